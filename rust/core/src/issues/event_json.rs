//! An error event's JSON as Sentry reads it, written in one pass: sentry-types' own
//! serialization, but for the mechanism fields of exception chains and groups that its
//! `Mechanism` lacks (0.49), which the event carries in `mechanism.data` (see
//! [`mechanism_keys`]) and which are written in the mechanism itself, where Sentry reads them.
//!
//! sentry-types writes each struct field by field (`serialize_struct`); [`Fields`] stands
//! between it and the JSON writer and lets every field through but three, which it writes
//! itself: the event's `exception`, each exception's `mechanism`, and each mechanism's `data`
//! (less those fields, written after it).

use sentry_types::protocol::v7::{Event, Exception, Map, Mechanism, Values};
use serde::ser::{Error, Impossible, SerializeStruct};
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::stacktrace::mechanism_keys;

/// Mechanism fields of exception chains and groups that sentry-types 0.49 lacks.
const MECHANISM_FIELDS: [&str; 4] = [
    mechanism_keys::EXCEPTION_ID,
    mechanism_keys::PARENT_ID,
    mechanism_keys::IS_EXCEPTION_GROUP,
    mechanism_keys::SOURCE,
];

/// An event, serialized as Sentry reads it.
pub struct EventJson<'a>(pub &'a Event<'static>);

impl Serialize for EventJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Own::Event(self.0).serialize(serializer)
    }
}

/// A struct of the event whose fields are not all sentry-types'.
#[derive(Clone, Copy)]
enum Own<'a> {
    Event(&'a Event<'static>),
    Exceptions(&'a Values<Exception>),
    Exception(&'a Exception),
    Mechanism(&'a Mechanism),
}

impl Serialize for Own<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let serializer = Intercept {
            inner: serializer,
            own: *self,
        };
        match *self {
            Own::Event(event) => event.serialize(serializer),
            Own::Exceptions(values) => values.serialize(serializer),
            Own::Exception(exception) => exception.serialize(serializer),
            Own::Mechanism(mechanism) => mechanism.serialize(serializer),
        }
    }
}

impl Own<'_> {
    /// Writes the field `key` of this struct to `out` in its own way; false when sentry-types'
    /// value is to be written.
    fn field<S: SerializeStruct>(self, key: &'static str, out: &mut S) -> Result<bool, S::Error> {
        match (self, key) {
            (Own::Event(event), "exception") => {
                out.serialize_field(key, &Own::Exceptions(&event.exception))?;
            }
            (Own::Exceptions(values), "values") => {
                out.serialize_field(key, &Each(&values.values))?;
            }
            (Own::Exception(exception), "mechanism") => match &exception.mechanism {
                Some(mechanism) => out.serialize_field(key, &Own::Mechanism(mechanism))?,
                None => return Ok(false),
            },
            (Own::Mechanism(mechanism), "data") => {
                // A `data` holding only the lifted fields goes.
                if mechanism.data.keys().any(|k| !is_lifted(k)) {
                    out.serialize_field(key, &Unlifted(&mechanism.data))?;
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The fields written after sentry-types' own: a mechanism's lifted ones.
    fn end<S: SerializeStruct>(self, out: &mut S) -> Result<(), S::Error> {
        let Own::Mechanism(mechanism) = self else {
            return Ok(());
        };
        for key in MECHANISM_FIELDS {
            if let Some(value) = mechanism.data.get(key) {
                out.serialize_field(key, value)?;
            }
        }
        Ok(())
    }
}

fn is_lifted(key: &str) -> bool {
    MECHANISM_FIELDS.contains(&key)
}

/// The exceptions of `exception.values`.
struct Each<'a>(&'a [Exception]);

impl Serialize for Each<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(Own::Exception))
    }
}

/// `mechanism.data` without the lifted fields.
struct Unlifted<'a>(&'a Map<String, Value>);

impl Serialize for Unlifted<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().filter(|(k, _)| !is_lifted(k)))
    }
}

/// The serializer sentry-types writes one of the [`Own`] structs to: a struct goes to
/// `inner` through [`Fields`]; anything else is a mistake of this module.
struct Intercept<'a, S> {
    inner: S,
    own: Own<'a>,
}

/// What [`Intercept`] answers for what is not a struct.
fn not_a_struct<E: Error>() -> E {
    E::custom("event_json: sentry-types wrote a struct as something else")
}

/// [`Serializer`]'s methods for what is not a struct, each failing.
macro_rules! not_a_struct {
    ($($method:ident($($arg:ty),*) -> $out:ty;)*) => {$(
        fn $method(self, $(_: $arg),*) -> Result<$out, S::Error> {
            Err(not_a_struct())
        }
    )*};
}

impl<'a, S: Serializer> Serializer for Intercept<'a, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeStruct = Fields<'a, S::SerializeStruct>;
    type SerializeSeq = Impossible<S::Ok, S::Error>;
    type SerializeTuple = Impossible<S::Ok, S::Error>;
    type SerializeTupleStruct = Impossible<S::Ok, S::Error>;
    type SerializeTupleVariant = Impossible<S::Ok, S::Error>;
    type SerializeMap = Impossible<S::Ok, S::Error>;
    type SerializeStructVariant = Impossible<S::Ok, S::Error>;

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        // `len` only tells JSON whether the object is empty: the own fields keep it above 0.
        Ok(Fields {
            inner: self.inner.serialize_struct(name, len)?,
            own: self.own,
        })
    }

    not_a_struct! {
        serialize_bool(bool) -> S::Ok;
        serialize_i8(i8) -> S::Ok;
        serialize_i16(i16) -> S::Ok;
        serialize_i32(i32) -> S::Ok;
        serialize_i64(i64) -> S::Ok;
        serialize_u8(u8) -> S::Ok;
        serialize_u16(u16) -> S::Ok;
        serialize_u32(u32) -> S::Ok;
        serialize_u64(u64) -> S::Ok;
        serialize_f32(f32) -> S::Ok;
        serialize_f64(f64) -> S::Ok;
        serialize_char(char) -> S::Ok;
        serialize_str(&str) -> S::Ok;
        serialize_bytes(&[u8]) -> S::Ok;
        serialize_none() -> S::Ok;
        serialize_unit() -> S::Ok;
        serialize_unit_struct(&'static str) -> S::Ok;
        serialize_unit_variant(&'static str, u32, &'static str) -> S::Ok;
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }

    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<S::Ok, S::Error> {
        Err(not_a_struct())
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<S::Ok, S::Error> {
        Err(not_a_struct())
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<S::Ok, S::Error> {
        Err(not_a_struct())
    }
}

/// One struct's fields on their way to the JSON writer: sentry-types' own, or the [`Own`]
/// struct's where it writes them.
struct Fields<'a, M> {
    inner: M,
    own: Own<'a>,
}

impl<M: SerializeStruct> SerializeStruct for Fields<'_, M> {
    type Ok = M::Ok;
    type Error = M::Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), M::Error> {
        if self.own.field(key, &mut self.inner)? {
            return Ok(());
        }
        self.inner.serialize_field(key, value)
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), M::Error> {
        self.inner.skip_field(key)
    }

    fn end(mut self) -> Result<M::Ok, M::Error> {
        self.own.end(&mut self.inner)?;
        self.inner.end()
    }
}
