/* The worker's reader of Playhead events, compiled: schemas/wire_read.py's
 * read_run and read_batch, event for event the same, in a fraction of the time.
 *
 * Why C: reading the wire was a fifth of a worker's time under the GIL
 * (docs/benchmarks.md), and the Python reader had nothing left to take out.
 * wire_read.py stays the reference and the fallback (a machine without a C
 * compiler installs and runs without this module); tests/schemas hold the two
 * to the same events, and to refusing the same bytes.
 *
 * The layout is playback_event v2 (docs/architecture.md, "The wire"): event_id,
 * organization_id, session_id, clip_id, source, dialect (strings), kind (an enum
 * index, one byte), position_seconds (double), sequence_number, timestamp,
 * received_at (longs), session_complete (one byte), action (string),
 * seek_to_seconds, value_ms, clip_length_seconds (unions of null and a value)
 * and attributes (a map of strings).
 *
 * Anything irregular raises ValueError: EventCodec.read_events then lets the
 * general decoder (fastavro) read the message or refuse it with its own error.
 * Strictness is all this module may add: refusing what the Python reader
 * accepts would only cost time; accepting what it refuses, or reading a
 * different event, would be a bug, and the tests look for both.
 */
#include "_slots.h"
#include <stdint.h>
#include <string.h>

/* PlaybackEvent's fields, in its declaration order (schemas/event.py). */
enum {
    F_EVENT_ID, F_ORGANIZATION_ID, F_SESSION_ID, F_CLIP_ID, F_SOURCE, F_KIND,
    F_POSITION, F_SEQUENCE, F_TIMESTAMP, F_COMPLETE, F_DIALECT, F_RECEIVED_AT,
    F_ACTION, F_SEEK_TO, F_VALUE_MS, F_CLIP_LENGTH, F_ATTRIBUTES, N_FIELDS
};
#define N_KINDS 5

typedef struct {
    PyTypeObject *event_type;  /* PlaybackEvent, once configure() has checked it */
    Py_ssize_t offsets[N_FIELDS];  /* where each slot lives in an event */
    PyObject *kinds[N_KINDS];  /* EventKind members in the wire enum's order */
} ReaderState;

static ReaderState reader;

typedef struct {
    const unsigned char *data;
    Py_ssize_t length;
    Py_ssize_t pos;
} Cursor;

static int
irregular(const char *what)
{
    PyErr_SetString(PyExc_ValueError, what);
    return -1;
}

/* An Avro long (zig-zag varint), refused where wire_read._long refuses it:
 * past the end, more than ten bytes, or beyond 64 bits. */
static int
read_long(Cursor *c, int64_t *out)
{
    uint64_t value = 0;
    int shift = 0;
    for (;;) {
        if (c->pos >= c->length)
            return irregular("message ends inside a number");
        unsigned char byte = c->data[c->pos++];
        if (shift == 63 && (byte & 0x7F) > 1)
            return irregular("varint beyond 64 bits");
        value |= (uint64_t)(byte & 0x7F) << shift;
        if (byte < 0x80)
            break;
        shift += 7;
        if (shift > 63)
            return irregular("varint longer than a long");
    }
    *out = (int64_t)(value >> 1) ^ -(int64_t)(value & 1);
    return 0;
}

static PyObject *
read_text(Cursor *c)
{
    int64_t size;
    if (read_long(c, &size) < 0)
        return NULL;
    if (size < 0) {
        irregular("negative string length");
        return NULL;
    }
    if (size > c->length - c->pos) {
        irregular("message ends inside a string");
        return NULL;
    }
    PyObject *text = PyUnicode_DecodeUTF8((const char *)c->data + c->pos, (Py_ssize_t)size,
                                          NULL);
    c->pos += (Py_ssize_t)size;
    return text;  /* NULL with UnicodeDecodeError, a ValueError, on bad UTF-8 */
}

static int
read_double(Cursor *c, double *out)
{
    if (c->length - c->pos < 8)
        return irregular("message ends inside a double");
    *out = PyFloat_Unpack8((const char *)c->data + c->pos, 1);
    c->pos += 8;
    return (*out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

/* A union of null and a value: branch byte 0 (null) or 2 (the value, zig-zag 1).
 * 1 for the value, 0 for null, -1 refused. */
static int
read_branch(Cursor *c)
{
    if (c->pos >= c->length)
        return irregular("message ends inside a union");
    unsigned char branch = c->data[c->pos++];
    if (branch == 0 || branch == 2)
        return branch == 2;
    return irregular("union branch");
}

static PyObject *
read_optional_double(Cursor *c)
{
    double value;
    int present = read_branch(c);
    if (present <= 0)
        return present < 0 ? NULL : Py_NewRef(Py_None);
    return read_double(c, &value) < 0 ? NULL : PyFloat_FromDouble(value);
}

static PyObject *
read_optional_long(Cursor *c)
{
    int64_t value;
    int present = read_branch(c);
    if (present <= 0)
        return present < 0 ? NULL : Py_NewRef(Py_None);
    return read_long(c, &value) < 0 ? NULL : PyLong_FromLongLong(value);
}

/* A block's count of items; a negative count is followed by the block's size in bytes. */
static int
read_block_count(Cursor *c, int64_t *count)
{
    if (read_long(c, count) < 0)
        return -1;
    if (*count < 0) {
        int64_t size;
        if (read_long(c, &size) < 0)
            return -1;
        if (*count == INT64_MIN)
            return irregular("block count");
        *count = -*count;
    }
    return 0;
}

static PyObject *
read_attributes(Cursor *c)
{
    PyObject *attributes = PyDict_New();
    if (attributes == NULL)
        return NULL;
    int64_t count;
    if (read_block_count(c, &count) < 0)
        goto fail;
    while (count) {
        for (int64_t i = 0; i < count; i++) {
            /* Every entry takes two bytes at least: a count past the end is refused
             * by the reads below, one entry at a time, without a long loop. */
            PyObject *key = read_text(c);
            if (key == NULL)
                goto fail;
            PyObject *value = read_text(c);
            if (value == NULL) {
                Py_DECREF(key);
                goto fail;
            }
            int set = PyDict_SetItem(attributes, key, value);
            Py_DECREF(key);
            Py_DECREF(value);
            if (set < 0)
                goto fail;
        }
        if (read_block_count(c, &count) < 0)
            goto fail;
    }
    return attributes;
fail:
    Py_DECREF(attributes);
    return NULL;
}

/* The shared fields of a session's events: organization, session, clip, source and
 * dialect, side by side on the wire. The next event's bytes are compared with the
 * last ones read and, when equal, the same strings are used again, as in Python. */
typedef struct {
    Py_ssize_t start, length;  /* the last span's bytes in the message; length -1: none */
    PyObject *text[5];
} Span;

static void
span_clear(Span *span)
{
    for (int i = 0; i < 5; i++)
        Py_CLEAR(span->text[i]);
    span->length = -1;
}

static int
read_span(Cursor *c, Span *span)
{
    if (span->length >= 0 && c->length - c->pos >= span->length
            && memcmp(c->data + c->pos, c->data + span->start, (size_t)span->length) == 0) {
        c->pos += span->length;
        return 0;
    }
    Py_ssize_t start = c->pos;
    PyObject *text[5];
    for (int i = 0; i < 5; i++) {
        text[i] = read_text(c);
        if (text[i] == NULL) {
            while (i--)
                Py_DECREF(text[i]);
            return -1;
        }
    }
    span_clear(span);
    for (int i = 0; i < 5; i++)
        span->text[i] = text[i];
    span->start = start;
    span->length = c->pos - start;
    return 0;
}

static inline void
put(PyObject *event, int field, PyObject *value)
{
    *(PyObject **)((char *)event + reader.offsets[field]) = value;  /* takes the reference */
}

static PyObject *
read_event(Cursor *c, Span *span)
{
    PyObject *event_id = read_text(c);
    if (event_id == NULL)
        return NULL;
    if (read_span(c, span) < 0)
        goto fail_id;
    if (c->pos >= c->length) {
        irregular("message ends before the kind");
        goto fail_id;
    }
    unsigned char kind = c->data[c->pos++];
    if (kind >= 2 * N_KINDS || kind & 1) {
        irregular("enum index");
        goto fail_id;
    }
    double position;
    int64_t sequence, timestamp, received_at;
    if (read_double(c, &position) < 0 || read_long(c, &sequence) < 0
            || read_long(c, &timestamp) < 0 || read_long(c, &received_at) < 0)
        goto fail_id;
    if (c->pos >= c->length) {
        irregular("message ends before session_complete");
        goto fail_id;
    }
    unsigned char complete = c->data[c->pos++];
    if (complete > 1) {
        irregular("boolean");
        goto fail_id;
    }
    PyObject *action = read_text(c);
    if (action == NULL)
        goto fail_id;
    PyObject *seek_to = NULL, *value_ms = NULL, *clip_length = NULL, *attributes = NULL;
    PyObject *numbers[4] = {NULL, NULL, NULL, NULL};
    if ((seek_to = read_optional_double(c)) == NULL
            || (value_ms = read_optional_long(c)) == NULL
            || (clip_length = read_optional_double(c)) == NULL
            || (attributes = read_attributes(c)) == NULL)
        goto fail_all;
    /* Times: the wire's milliseconds as seconds, divided as wire_read divides them. */
    if ((numbers[0] = PyFloat_FromDouble(position)) == NULL
            || (numbers[1] = PyLong_FromLongLong(sequence)) == NULL
            || (numbers[2] = PyFloat_FromDouble((double)timestamp / 1000.0)) == NULL
            || (numbers[3] = PyFloat_FromDouble((double)received_at / 1000.0)) == NULL)
        goto fail_all;
    PyObject *event = reader.event_type->tp_alloc(reader.event_type, 0);
    if (event == NULL)
        goto fail_all;
    PyObject *kind_member = reader.kinds[kind >> 1];
    PyObject *flag = complete ? Py_True : Py_False;
    put(event, F_EVENT_ID, event_id);
    for (int i = 0; i < 5; i++)
        Py_INCREF(span->text[i]);
    put(event, F_ORGANIZATION_ID, span->text[0]);
    put(event, F_SESSION_ID, span->text[1]);
    put(event, F_CLIP_ID, span->text[2]);
    put(event, F_SOURCE, span->text[3]);
    put(event, F_DIALECT, span->text[4]);
    Py_INCREF(kind_member);
    put(event, F_KIND, kind_member);
    put(event, F_POSITION, numbers[0]);
    put(event, F_SEQUENCE, numbers[1]);
    put(event, F_TIMESTAMP, numbers[2]);
    Py_INCREF(flag);
    put(event, F_COMPLETE, flag);
    put(event, F_RECEIVED_AT, numbers[3]);
    put(event, F_ACTION, action);
    put(event, F_SEEK_TO, seek_to);
    put(event, F_VALUE_MS, value_ms);
    put(event, F_CLIP_LENGTH, clip_length);
    put(event, F_ATTRIBUTES, attributes);
    return event;
fail_all:
    Py_XDECREF(seek_to);
    Py_XDECREF(value_ms);
    Py_XDECREF(clip_length);
    Py_XDECREF(attributes);
    for (int i = 0; i < 4; i++)
        Py_XDECREF(numbers[i]);
    Py_DECREF(action);
fail_id:
    Py_DECREF(event_id);
    return NULL;
}

static int
ready(void)
{
    if (reader.event_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "schemas._wire_read: configure() first");
        return -1;
    }
    return 0;
}

/* count events from pos onto events; the position after them. */
static int
read_events_into(Cursor *c, int64_t count, PyObject *events)
{
    Span span = {0, -1, {NULL, NULL, NULL, NULL, NULL}};
    int result = 0;
    for (int64_t i = 0; i < count; i++) {
        PyObject *event = read_event(c, &span);
        if (event == NULL || PyList_Append(events, event) < 0) {
            Py_XDECREF(event);
            result = -1;
            break;
        }
        Py_DECREF(event);
    }
    span_clear(&span);
    return result;
}

static int
start(Py_buffer *view, Py_ssize_t pos, Cursor *c)
{
    if (pos < 0 || pos > view->len) {
        irregular("position outside the message");
        return -1;
    }
    c->data = (const unsigned char *)view->buf;
    c->length = view->len;
    c->pos = pos;
    return 0;
}

static PyObject *
read_run(PyObject *module, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t pos, count;
    PyObject *events;
    if (ready() < 0 || !PyArg_ParseTuple(args, "y*nnO!:read_run", &view, &pos, &count,
                                         &PyList_Type, &events))
        return NULL;
    Cursor c;
    int failed = start(&view, pos, &c) < 0 || read_events_into(&c, count, events) < 0;
    PyBuffer_Release(&view);
    return failed ? NULL : PyLong_FromSsize_t(c.pos);
}

static PyObject *
read_batch(PyObject *module, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t pos;
    if (ready() < 0 || !PyArg_ParseTuple(args, "y*n:read_batch", &view, &pos))
        return NULL;
    PyObject *events = PyList_New(0);
    Cursor c;
    int64_t count;
    int failed = events == NULL || start(&view, pos, &c) < 0
                 || read_block_count(&c, &count) < 0;
    while (!failed && count) {
        failed = read_events_into(&c, count, events) < 0 || read_block_count(&c, &count) < 0;
    }
    PyBuffer_Release(&view);
    if (failed) {
        Py_XDECREF(events);
        return NULL;
    }
    if (PyList_GET_SIZE(events) == 0) {  /* no events: decode_many refuses it */
        Py_DECREF(events);
        Py_RETURN_NONE;
    }
    return events;
}

/* The bounds every event keeps (schemas/bounds.py), set by configure_bounds. */
static struct {
    int set;
    double min_timestamp, max_timestamp;
    long long max_value_ms, max_sequence;
    Py_ssize_t max_id_chars, max_attributes, max_key_chars, max_value_chars, max_attribute_chars;
} limits;

/* 1 for ASCII text of at most ``most`` characters, 0 for other text, -1 for no str.
 * A str subclass counts as its text (the gateway's actions are Action members)
 * unless it has a length of its own, which Bounds would ask for instead. */
static int
plain_text(PyObject *text, Py_ssize_t most)
{
    if (!PyUnicode_Check(text))
        return -1;
    if (!PyUnicode_CheckExact(text) && Py_TYPE(text)->tp_as_sequence->sq_length
            != PyUnicode_Type.tp_as_sequence->sq_length)
        return -1;
#if PY_VERSION_HEX < 0x030C0000  /* every str is ready from 3.12 on */
    if (PyUnicode_READY(text) < 0) {
        PyErr_Clear();
        return -1;
    }
#endif
    return PyUnicode_IS_ASCII(text) && PyUnicode_GET_LENGTH(text) <= most;
}

/* 1 for a float within [low, high] (high_open: below high), 0 outside, -1 for no float. */
static int
plain_float(PyObject *value, double low, double high, int high_open)
{
    if (!PyFloat_CheckExact(value))
        return -1;
    double x = PyFloat_AS_DOUBLE(value);
    return low <= x && (high_open ? x < high : x <= high);  /* NaN: 0 */
}

static int
plain_int(PyObject *value, long long low, long long high)
{
    if (!PyLong_CheckExact(value))
        return -1;
    int overflow;
    long long n = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (n == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return -1;
    }
    return !overflow && low <= n && n <= high;
}

#define SLOT(event, f) (*(PyObject **)((char *)(event) + reader.offsets[f]))

/* 1 when the event keeps every bound, 0 when it breaks one, -1 when it holds a
 * value of a type this check leaves to Bounds.all_plainly_within. */
static int
plain_event(PyObject *e, double most_seconds)
{
    int ok;
    if ((ok = plain_float(SLOT(e, F_POSITION), -most_seconds, most_seconds, 0)) != 1)
        return ok;
    static const int optional[2] = {F_SEEK_TO, F_CLIP_LENGTH};
    for (int i = 0; i < 2; i++) {
        PyObject *value = SLOT(e, optional[i]);
        if (value != Py_None && (ok = plain_float(value, -most_seconds, most_seconds, 0)) != 1)
            return ok;
    }
    if ((ok = plain_float(SLOT(e, F_TIMESTAMP), limits.min_timestamp, limits.max_timestamp,
                          1)) != 1)
        return ok;
    PyObject *received = SLOT(e, F_RECEIVED_AT);
    if (!PyFloat_CheckExact(received))
        return -1;
    if (PyFloat_AS_DOUBLE(received) != 0.0
            && (ok = plain_float(received, limits.min_timestamp, limits.max_timestamp, 1)) != 1)
        return ok;
    PyObject *value_ms = SLOT(e, F_VALUE_MS);
    if (value_ms != Py_None && (ok = plain_int(value_ms, 0, limits.max_value_ms)) != 1)
        return ok;
    if ((ok = plain_int(SLOT(e, F_SEQUENCE), 1, limits.max_sequence)) != 1)
        return ok;
    static const int texts[7] = {F_EVENT_ID, F_ORGANIZATION_ID, F_SESSION_ID, F_CLIP_ID,
                                 F_SOURCE, F_DIALECT, F_ACTION};
    for (int i = 0; i < 7; i++) {
        if ((ok = plain_text(SLOT(e, texts[i]), limits.max_id_chars)) != 1)
            return ok;
    }
    PyObject *attributes = SLOT(e, F_ATTRIBUTES);
    if (!PyDict_CheckExact(attributes))
        return -1;
    if (PyDict_GET_SIZE(attributes) > limits.max_attributes)
        return 0;
    Py_ssize_t pos = 0, total = 0;
    PyObject *key, *value;
    while (PyDict_Next(attributes, &pos, &key, &value)) {
        if ((ok = plain_text(key, limits.max_key_chars)) != 1
                || (ok = plain_text(value, limits.max_value_chars)) != 1)
            return ok;
        total += PyUnicode_GET_LENGTH(key) + PyUnicode_GET_LENGTH(value);
    }
    return total <= limits.max_attribute_chars;
}

/* plainly_within(events, max_clip_seconds) -> bool | None: Bounds.all_plainly_within
 * of a list of PlaybackEvent; None for anything else, which Bounds checks itself. */
static PyObject *
plainly_within(PyObject *module, PyObject *args)
{
    PyObject *events;
    double most_seconds;
    (void)module;
    if (!PyArg_ParseTuple(args, "Od:plainly_within", &events, &most_seconds))
        return NULL;
    if (reader.event_type == NULL || !limits.set || !PyList_CheckExact(events))
        Py_RETURN_NONE;
    int unknown = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(events); i++) {
        PyObject *event = PyList_GET_ITEM(events, i);
        int ok = Py_IS_TYPE(event, reader.event_type) ? plain_event(event, most_seconds) : -1;
        if (ok == 0)
            Py_RETURN_FALSE;  /* one event outside: not all plainly within, whatever else */
        if (ok < 0)
            unknown = 1;
    }
    if (unknown)
        Py_RETURN_NONE;
    Py_RETURN_TRUE;
}

/* configure_bounds(min_timestamp, max_timestamp, max_value_ms, max_sequence,
 * max_id_chars, max_attributes, max_key_chars, max_value_chars, max_attribute_chars) */
static PyObject *
configure_bounds(PyObject *module, PyObject *args)
{
    (void)module;
    if (!PyArg_ParseTuple(args, "ddLLnnnnn:configure_bounds", &limits.min_timestamp,
                          &limits.max_timestamp, &limits.max_value_ms, &limits.max_sequence,
                          &limits.max_id_chars, &limits.max_attributes, &limits.max_key_chars,
                          &limits.max_value_chars, &limits.max_attribute_chars))
        return NULL;
    limits.set = 1;
    Py_RETURN_NONE;
}

/* configure(PlaybackEvent, field names in order, EventKind members in wire order).
 * Checks that every field is a plain slot of the class, so that writing the slots
 * straight is what setting them would do; refuses anything else (the Python
 * reader is then used). */
static PyObject *
configure(PyObject *module, PyObject *args)
{
    PyTypeObject *type;
    PyObject *names, *kinds;
    if (!PyArg_ParseTuple(args, "O!O!O!:configure", &PyType_Type, &type, &PyTuple_Type,
                          &names, &PyTuple_Type, &kinds))
        return NULL;
    if (PyTuple_GET_SIZE(kinds) != N_KINDS) {
        PyErr_SetString(PyExc_TypeError, "configure: 5 kinds expected");
        return NULL;
    }
    Py_ssize_t offsets[N_FIELDS];
    if (slot_offsets(type, names, N_FIELDS, offsets) < 0)
        return NULL;
    for (int i = 0; i < N_KINDS; i++) {
        Py_XSETREF(reader.kinds[i], Py_NewRef(PyTuple_GET_ITEM(kinds, i)));
    }
    memcpy(reader.offsets, offsets, sizeof offsets);
    Py_XSETREF(reader.event_type, (PyTypeObject *)Py_NewRef(type));
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(cls, field_names, kinds): the class events are built as."},
    {"read_run", read_run, METH_VARARGS,
     "read_run(data, pos, count, events) -> pos: count events from pos onto events."},
    {"read_batch", read_batch, METH_VARARGS,
     "read_batch(data, pos) -> list | None: a batch's events, None for none."},
    {"plainly_within", plainly_within, METH_VARARGS,
     "plainly_within(events, max_clip_seconds) -> bool | None: Bounds.all_plainly_within."},
    {"configure_bounds", configure_bounds, METH_VARARGS,
     "configure_bounds(...): the limits of schemas/bounds.py."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "schemas._wire_read",
    "schemas/wire_read.py's reader, compiled (same events, same refusals).", -1, methods,
};

PyMODINIT_FUNC
PyInit__wire_read(void)
{
    return PyModule_Create(&module);
}
