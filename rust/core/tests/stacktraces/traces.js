// Prints real Node.js stack traces for tests/stacktraces.rs: one section per case, each after
// a `=== name` line.
const util = require('node:util');

function readPort(config) {
  return config.server.port;
}

function loadConfig() {
  try {
    return readPort({});
  } catch (err) {
    throw new Error('config broken', { cause: err });
  }
}

function recurse(depth) {
  if (depth === 0) throw new RangeError('too deep');
  return recurse(depth - 1);
}

async function fetchData() {
  await new Promise((resolve) => setImmediate(resolve));
  throw new TypeError('upstream closed');
}

async function handler() {
  return await fetchData();
}

async function main() {
  try {
    loadConfig();
  } catch (err) {
    console.log('=== chain\n' + util.inspect(err));
  }
  Error.stackTraceLimit = Infinity;
  try {
    recurse(300);
  } catch (err) {
    console.log('=== deep\n' + err.stack);
  }
  try {
    await handler();
  } catch (err) {
    console.log('=== async\n' + err.stack);
  }
}

main();
