"""The fault run of harness.py for a minute: twelve services through the built collector while
the stand-in switches faults on and off (see harness.py for the faults and every check).
`make soak` runs the same for longer (scripts/soak.py)."""

from harness import FAULT_RUN_LOG_LEVEL, FAULT_RUN_STANDIN_ARGS, fault_run, fault_run_config

SECONDS = 60


def test_services_through_switching_faults_arrive_at_least_once_and_within_limits(start_standin,
                                                                                   launch_collector):
    standin = start_standin(*FAULT_RUN_STANDIN_ARGS)
    collector = launch_collector(fault_run_config(standin), log_level=FAULT_RUN_LOG_LEVEL)
    problems = fault_run(standin, collector, SECONDS)
    assert not problems, "\n".join(problems)
