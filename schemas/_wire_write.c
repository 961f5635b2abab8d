/* Playhead events in Avro binary, compiled: schemas/event_writer.py's
 * ``BodyWriter.bodies``, byte for byte the same, in a fraction of the time.
 *
 * Why C: the gateway writes every event it accepts, and the hand-written
 * Python writer was its largest single cost after the dialects' own work
 * (docs/benchmarks.md). event_writer.py stays the reference and the fallback:
 * this module answers None for anything it does not write exactly as the
 * Python writer does (a value of another type, a time or number outside an
 * Avro long, text without a UTF-8 form), and the Python writer then writes
 * those events, or raises its own error. tests/schemas hold the two to the
 * same bytes.
 *
 * The layout is playback_event v2 (docs/architecture.md, "The wire"):
 * event_id, organization_id, session_id, clip_id, source, dialect, kind (enum
 * index), position_seconds (double), sequence_number, timestamp, received_at
 * (longs; times in milliseconds, rounded half to even as Python's round()),
 * session_complete, action, seek_to_seconds, value_ms, clip_length_seconds
 * (unions of null and a value), attributes (one block, then the empty one).
 */
#include "_slots.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

enum {
    F_EVENT_ID, F_ORGANIZATION_ID, F_SESSION_ID, F_CLIP_ID, F_SOURCE, F_KIND,
    F_POSITION, F_SEQUENCE, F_TIMESTAMP, F_COMPLETE, F_DIALECT, F_RECEIVED_AT,
    F_ACTION, F_SEEK_TO, F_VALUE_MS, F_CLIP_LENGTH, F_ATTRIBUTES, N_FIELDS
};

static struct {
    PyTypeObject *event_type;
    Py_ssize_t offsets[N_FIELDS];
    PyObject *kind_index;  /* EventKind -> its index in the wire enum */
    PyObject *text_types;  /* str subclasses written as their text (Action, EventKind) */
} writer;

#define DECLINE 1

typedef struct {
    char *data;
    Py_ssize_t length, capacity;
} Buffer;

static int
reserve(Buffer *b, Py_ssize_t more)
{
    if (b->length + more <= b->capacity)
        return 0;
    Py_ssize_t capacity = b->capacity ? b->capacity : 512;
    while (capacity < b->length + more)
        capacity *= 2;
    char *data = PyMem_Realloc(b->data, (size_t)capacity);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->capacity = capacity;
    return 0;
}

static int
put_long(Buffer *b, int64_t n)
{
    if (reserve(b, 10) < 0)
        return -1;
    uint64_t z = ((uint64_t)n << 1) ^ (uint64_t)(n >> 63);
    while (z >= 0x80) {
        b->data[b->length++] = (char)((z & 0x7F) | 0x80);
        z >>= 7;
    }
    b->data[b->length++] = (char)z;
    return 0;
}

static int
put_byte(Buffer *b, unsigned char byte)
{
    if (reserve(b, 1) < 0)
        return -1;
    b->data[b->length++] = (char)byte;
    return 0;
}

static int
put_double(Buffer *b, PyObject *value)
{
    if (!PyFloat_CheckExact(value))
        return DECLINE;  /* struct converts ints; the Python writer does that */
    if (reserve(b, 8) < 0)
        return -1;
    if (PyFloat_Pack8(PyFloat_AS_DOUBLE(value), b->data + b->length, 1) < 0)
        return -1;
    b->length += 8;
    return 0;
}

static int
put_text(Buffer *b, PyObject *text)
{
    if (!PyUnicode_CheckExact(text)) {
        int known = PyObject_TypeCheck(text, &PyUnicode_Type)
                    && PySequence_Contains(writer.text_types, (PyObject *)Py_TYPE(text)) == 1;
        if (!known) {
            PyErr_Clear();
            return DECLINE;
        }
    }
    Py_ssize_t size;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &size);
    if (utf8 == NULL) {  /* a lone surrogate: the Python writer raises its own error */
        PyErr_Clear();
        return DECLINE;
    }
    if (put_long(b, size) < 0 || reserve(b, size) < 0)
        return -1;
    memcpy(b->data + b->length, utf8, (size_t)size);
    b->length += size;
    return 0;
}

static int
put_int(Buffer *b, PyObject *value)
{
    if (!PyLong_CheckExact(value))
        return DECLINE;
    int overflow;
    long long n = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow || (n == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return DECLINE;  /* the Python writer raises OverflowError */
    }
    return put_long(b, n);
}

/* Seconds as round(seconds * 1000) milliseconds: half to even, as Python rounds. */
static int
put_time(Buffer *b, PyObject *value)
{
    if (!PyFloat_CheckExact(value))
        return DECLINE;
    double millis = nearbyint(PyFloat_AS_DOUBLE(value) * 1000.0);
    /* Beyond a long (or NaN) the Python writer raises: [-2^63, 2^63), both exact doubles. */
    if (!(millis >= -9223372036854775808.0 && millis < 9223372036854775808.0))
        return DECLINE;
    return put_long(b, (int64_t)millis);
}

#define FIELD(event, f) (*(PyObject **)((char *)(event) + writer.offsets[f]))

static int
put_optional(Buffer *b, PyObject *value, int (*put)(Buffer *, PyObject *))
{
    if (value == Py_None)
        return put_byte(b, 0);
    int done = put_byte(b, 2);
    return done ? done : put(b, value);
}

static int
put_event(Buffer *b, PyObject *e)
{
    int done;
    static const int texts[6] = {F_EVENT_ID, F_ORGANIZATION_ID, F_SESSION_ID, F_CLIP_ID,
                                 F_SOURCE, F_DIALECT};
    for (int i = 0; i < 6; i++) {
        if ((done = put_text(b, FIELD(e, texts[i]))) != 0)
            return done;
    }
    PyObject *index = PyDict_GetItemWithError(writer.kind_index, FIELD(e, F_KIND));
    if (index == NULL)
        return PyErr_Occurred() ? -1 : DECLINE;
    int complete = PyObject_IsTrue(FIELD(e, F_COMPLETE));
    if (complete < 0)
        return -1;
    if ((done = put_int(b, index)) != 0 || (done = put_double(b, FIELD(e, F_POSITION))) != 0
            || (done = put_int(b, FIELD(e, F_SEQUENCE))) != 0
            || (done = put_time(b, FIELD(e, F_TIMESTAMP))) != 0
            || (done = put_time(b, FIELD(e, F_RECEIVED_AT))) != 0
            || (done = put_byte(b, complete ? 1 : 0)) != 0
            || (done = put_text(b, FIELD(e, F_ACTION))) != 0
            || (done = put_optional(b, FIELD(e, F_SEEK_TO), put_double)) != 0
            || (done = put_optional(b, FIELD(e, F_VALUE_MS), put_int)) != 0
            || (done = put_optional(b, FIELD(e, F_CLIP_LENGTH), put_double)) != 0)
        return done;
    PyObject *attributes = FIELD(e, F_ATTRIBUTES);
    if (!PyDict_CheckExact(attributes))
        return DECLINE;
    Py_ssize_t count = PyDict_GET_SIZE(attributes);
    if (count) {
        /* One block holding every entry, then the empty block that ends the map. */
        if ((done = put_long(b, count)) != 0)
            return done;
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (PyDict_Next(attributes, &pos, &key, &value)) {
            if ((done = put_text(b, key)) != 0 || (done = put_text(b, value)) != 0)
                return done;
        }
    }
    return put_byte(b, 0);
}

/* bodies(events) -> list[bytes] | None: each event's Avro body, or None when the
 * Python writer is to write them (BodyWriter.bodies). */
static PyObject *
bodies(PyObject *module, PyObject *events)
{
    (void)module;
    if (writer.event_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "schemas._wire_write: configure() first");
        return NULL;
    }
    if (!PyList_CheckExact(events) && !PyTuple_CheckExact(events))
        Py_RETURN_NONE;
    PyObject *fast = PySequence_Fast(events, "bodies: a list or tuple");
    if (fast == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(fast);
    PyObject *out = PyList_New(count);
    Buffer b = {NULL, 0, 0};
    int done = out == NULL ? -1 : 0;
    for (Py_ssize_t i = 0; !done && i < count; i++) {
        PyObject *event = PySequence_Fast_GET_ITEM(fast, i);
        if (!Py_IS_TYPE(event, writer.event_type)) {
            done = DECLINE;
            break;
        }
        b.length = 0;
        if ((done = put_event(&b, event)) != 0)
            break;
        PyObject *body = PyBytes_FromStringAndSize(b.data, b.length);
        if (body == NULL) {
            done = -1;
            break;
        }
        PyList_SET_ITEM(out, i, body);
    }
    PyMem_Free(b.data);
    Py_DECREF(fast);
    if (done == 0)
        return out;
    Py_XDECREF(out);
    if (done == DECLINE)
        Py_RETURN_NONE;
    return NULL;
}

/* configure(PlaybackEvent, field names, kind index, str subclasses written as text) */
static PyObject *
configure(PyObject *module, PyObject *args)
{
    PyTypeObject *type;
    PyObject *names, *kind_index, *text_types;
    (void)module;
    if (!PyArg_ParseTuple(args, "O!O!O!O!:configure", &PyType_Type, &type, &PyTuple_Type,
                          &names, &PyDict_Type, &kind_index, &PyTuple_Type, &text_types))
        return NULL;
    Py_ssize_t offsets[N_FIELDS];
    if (slot_offsets(type, names, N_FIELDS, offsets) < 0)
        return NULL;
    memcpy(writer.offsets, offsets, sizeof offsets);
    Py_XSETREF(writer.kind_index, Py_NewRef(kind_index));
    Py_XSETREF(writer.text_types, Py_NewRef(text_types));
    Py_XSETREF(writer.event_type, (PyTypeObject *)Py_NewRef(type));
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(cls, field_names, kind_index, text_types): what events are written from."},
    {"bodies", bodies, METH_O,
     "bodies(events) -> list[bytes] | None: each event's Avro body, or None."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "schemas._wire_write",
    "schemas/event_writer.py's bodies, compiled (same bytes).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__wire_write(void)
{
    return PyModule_Create(&module);
}
