/* The events of a stored session as JSON rows, compiled: processors/state_codec.py's
 * ``_json(_rows(...))``, byte for byte the same, in a fraction of the time.
 *
 * Why C: writing the rows was the largest single cost of a busy worker after
 * reading the wire (docs/benchmarks.md), most of it in formatting floats. The
 * Python encoder stays the reference and the fallback: this module answers
 * None for anything it does not handle exactly as json would (a value of
 * another type, an id with a colon it cannot check, text that is not UTF-8),
 * and state_codec then writes those rows itself. tests/processors hold the two
 * to the same bytes.
 *
 * A row: [event_id or 0, clip or null, source or null, dialect or null, kind
 * index, position, sequence, timestamp, received_at, complete (0/1), then
 * action, seek_to, value_ms, clip_length and attributes up to the last one
 * not at its default]. clip, source and dialect are null when they equal
 * the previous event's; an event_id equal to its derived id is written as 0.
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
    PyObject *kind_index;  /* EventKind -> its index, as state_codec._KIND_INDEX */
    PyObject *derived;  /* schemas.event.derived_event_id */
} codec;

/* A result that is not an error: the Python encoder writes these rows. */
#define DECLINE 1

typedef struct {
    char *data;
    Py_ssize_t length, capacity;
} Buffer;

static int
grow(Buffer *b, Py_ssize_t more)
{
    if (b->length + more <= b->capacity)
        return 0;
    Py_ssize_t capacity = b->capacity ? b->capacity : 1024;
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
put(Buffer *b, const char *text, Py_ssize_t length)
{
    if (grow(b, length) < 0)
        return -1;
    memcpy(b->data + b->length, text, (size_t)length);
    b->length += length;
    return 0;
}

static inline int
put_char(Buffer *b, char c)
{
    if (grow(b, 1) < 0)
        return -1;
    b->data[b->length++] = c;
    return 0;
}

/* A str as json writes it with ensure_ascii=False, then as UTF-8: '"' and '\\'
 * escaped, \b \f \n \r \t as such, other controls as \u00xx (lower-case hex),
 * everything else as it is. Text without a UTF-8 form (a lone surrogate) is
 * declined: the Python encoder raises its own error for it. */
static int
put_text(Buffer *b, PyObject *text)
{
    if (!PyUnicode_CheckExact(text))
        return DECLINE;
    Py_ssize_t size;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &size);
    if (utf8 == NULL) {
        PyErr_Clear();
        return DECLINE;
    }
    if (grow(b, 2 + 6 * size) < 0)
        return -1;
    char *out = b->data + b->length;
    *out++ = '"';
    static const char hex[] = "0123456789abcdef";
    for (Py_ssize_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char)utf8[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *out++ = (char)c;
            continue;
        }
        *out++ = '\\';
        switch (c) {
        case '"': *out++ = '"'; break;
        case '\\': *out++ = '\\'; break;
        case '\b': *out++ = 'b'; break;
        case '\f': *out++ = 'f'; break;
        case '\n': *out++ = 'n'; break;
        case '\r': *out++ = 'r'; break;
        case '\t': *out++ = 't'; break;
        default:
            *out++ = 'u';
            *out++ = '0';
            *out++ = '0';
            *out++ = hex[c >> 4];
            *out++ = hex[c & 0xF];
        }
    }
    *out++ = '"';
    b->length = out - b->data;
    return 0;
}

/* repr(x), as json writes a finite float. A value of whole milliseconds (times
 * and positions mostly are) is written from its integer count: the decimal
 * m/1000 reads back as x, and below 2^40 no decimal with fewer digits does
 * (doubles there lie under a thousandth apart), so it is the shortest
 * round-tripping string, which is what repr gives. Anything else: repr's own
 * formatter. */
static int
put_double(Buffer *b, double x)
{
    if (!isfinite(x)) {
        const char *word = isnan(x) ? "NaN" : (x > 0 ? "Infinity" : "-Infinity");
        return put(b, word, (Py_ssize_t)strlen(word));
    }
    if (fabs(x) < 1099511627776.0) {
        double scaled = nearbyint(x * 1000.0);
        long long m = (long long)scaled;
        if ((double)m / 1000.0 == x && !(m == 0 && signbit(x))) {
            char text[40];
            unsigned long long whole = (unsigned long long)(m < 0 ? -m : m);
            unsigned fraction = (unsigned)(whole % 1000);
            int length;
            if (fraction == 0) {
                length = snprintf(text, sizeof text, "%s%llu.0", m < 0 ? "-" : "", whole / 1000);
            } else {
                length = snprintf(text, sizeof text, "%s%llu.%03u", m < 0 ? "-" : "",
                                  whole / 1000, fraction);
                while (text[length - 1] == '0')
                    length--;
            }
            return put(b, text, length);
        }
    }
    char *text = PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (text == NULL)
        return -1;
    int failed = put(b, text, (Py_ssize_t)strlen(text));
    PyMem_Free(text);
    return failed;
}

/* A number or null as json writes it; other types are declined. */
static int
put_value(Buffer *b, PyObject *value)
{
    if (value == Py_None)
        return put(b, "null", 4);
    if (value == Py_True)
        return put(b, "true", 4);
    if (value == Py_False)
        return put(b, "false", 5);
    if (PyFloat_CheckExact(value))
        return put_double(b, PyFloat_AS_DOUBLE(value));
    if (PyLong_CheckExact(value)) {
        int overflow;
        long long n = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow || (n == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return DECLINE;
        }
        char text[24];
        int length = snprintf(text, sizeof text, "%lld", n);
        return put(b, text, length);
    }
    return DECLINE;
}

static inline PyObject *
field(PyObject *event, int f)
{
    return *(PyObject **)((char *)event + codec.offsets[f]);
}

/* The attributes as json writes a dict of str to str: {"k":"v",...} in order. */
static int
put_attributes(Buffer *b, PyObject *attributes)
{
    if (put_char(b, '{') < 0)
        return -1;
    Py_ssize_t pos = 0, n = 0;
    PyObject *key, *value;
    while (PyDict_Next(attributes, &pos, &key, &value)) {
        int done;
        if (n++ && put_char(b, ',') < 0)
            return -1;
        if ((done = put_text(b, key)) != 0 || (put_char(b, ':') < 0 && (done = -1))
                || (done = put_text(b, value)) != 0)
            return done;
    }
    return put_char(b, '}');
}

static int
text_equal(PyObject *a, PyObject *b)
{
    if (a == b)
        return 1;
    if (!PyUnicode_CheckExact(a) || !PyUnicode_CheckExact(b))
        return -1;  /* declined: compared as Python compares other types */
    return PyUnicode_Compare(a, b) == 0 ? 1 : (PyErr_Occurred() ? -2 : 0);
}

/* 1 when the event's id is its derived one (written as 0), 0 when not. */
static int
is_derived(PyObject *event, PyObject *event_id, PyObject *org, PyObject *session)
{
    if (PyUnicode_FindChar(event_id, ':', 0, PyUnicode_GET_LENGTH(event_id), 1) < 0)
        return 0;  /* a derived id always holds a colon: most ids are told apart by that */
    PyObject *derived = PyObject_CallFunctionObjArgs(codec.derived, field(event, F_DIALECT),
                                                     org, session, field(event, F_SEQUENCE),
                                                     NULL);
    if (derived == NULL)
        return -1;
    int equal = PyObject_RichCompareBool(event_id, derived, Py_EQ);
    Py_DECREF(derived);
    return equal;
}

/* One event's row after ``previous`` (NULL: the first row, clip, source and dialect
 * written out). */
static int
put_row(Buffer *b, PyObject *event, PyObject *previous, PyObject *org, PyObject *session)
{
    int done;
    if (!Py_IS_TYPE(event, codec.event_type))
        return DECLINE;
    PyObject *event_id = field(event, F_EVENT_ID);
    if (!PyUnicode_CheckExact(event_id))
        return DECLINE;
    if (put_char(b, '[') < 0)
        return -1;
    int derived = is_derived(event, event_id, org, session);
    if (derived < 0)
        return -1;
    if ((done = derived ? put_char(b, '0') : put_text(b, event_id)) != 0)
        return done;
    static const int shared[3] = {F_CLIP_ID, F_SOURCE, F_DIALECT};
    for (int i = 0; i < 3; i++) {
        PyObject *value = field(event, shared[i]);
        if (put_char(b, ',') < 0)
            return -1;
        if (previous != NULL) {
            int same = text_equal(value, field(previous, shared[i]));
            if (same == -2)
                return -1;
            if (same < 0)
                return DECLINE;
            if (same) {
                if (put(b, "null", 4) < 0)
                    return -1;
                continue;
            }
        }
        if ((done = put_text(b, value)) != 0)
            return done;
    }
    PyObject *kind = PyDict_GetItemWithError(codec.kind_index, field(event, F_KIND));
    if (kind == NULL)
        return PyErr_Occurred() ? -1 : DECLINE;
    static const int numbers[4] = {F_POSITION, F_SEQUENCE, F_TIMESTAMP, F_RECEIVED_AT};
    if (put_char(b, ',') < 0 || (done = put_value(b, kind)) != 0)
        return done ? done : -1;
    for (int i = 0; i < 4; i++) {
        if (put_char(b, ',') < 0)
            return -1;
        if ((done = put_value(b, field(event, numbers[i]))) != 0)
            return done;
    }
    PyObject *complete = field(event, F_COMPLETE);
    if (complete != Py_True && complete != Py_False)
        return DECLINE;
    if (put(b, complete == Py_True ? ",1" : ",0", 2) < 0)
        return -1;
    /* The optional five, up to the last one not at its default. */
    PyObject *action = field(event, F_ACTION), *attributes = field(event, F_ATTRIBUTES);
    if (!PyUnicode_CheckExact(action) || !PyDict_CheckExact(attributes))
        return DECLINE;
    static const int optional[3] = {F_SEEK_TO, F_VALUE_MS, F_CLIP_LENGTH};
    int tail;
    if (PyDict_GET_SIZE(attributes))
        tail = 5;
    else if (field(event, F_CLIP_LENGTH) != Py_None)
        tail = 4;
    else if (field(event, F_VALUE_MS) != Py_None)
        tail = 3;
    else if (field(event, F_SEEK_TO) != Py_None)
        tail = 2;
    else
        tail = PyUnicode_GET_LENGTH(action) ? 1 : 0;
    if (tail && (put_char(b, ',') < 0 || (done = put_text(b, action)) != 0))
        return done ? done : -1;
    for (int i = 0; i + 1 < tail && i < 3; i++) {
        if (put_char(b, ',') < 0 || (done = put_value(b, field(event, optional[i]))) != 0)
            return done ? done : -1;
    }
    if (tail == 5 && (put_char(b, ',') < 0 || (done = put_attributes(b, attributes)) != 0))
        return done ? done : -1;
    return put_char(b, ']');
}

/* rows(events, previous, head) -> bytes | None
 *
 * With head (organization, session): ``["org","session",[rows]]``, the first row
 * written out, as state_codec.encode writes a session. Without it (None):
 * ``[rows]`` of the events after ``previous``, as encode_after adds them.
 * None: the Python encoder writes these (state_codec raises what is wrong). */
static PyObject *
rows(PyObject *module, PyObject *args)
{
    PyObject *events, *previous, *head;
    (void)module;
    if (codec.event_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "processors._state_rows: configure() first");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "O!OO:rows", &PyList_Type, &events, &previous, &head))
        return NULL;
    Py_ssize_t count = PyList_GET_SIZE(events);
    if (count == 0)
        Py_RETURN_NONE;
    Buffer b = {NULL, 0, 0};
    int done = 0;
    PyObject *org, *session;
    PyObject *first = PyList_GET_ITEM(events, 0);
    PyObject *before = previous == Py_None ? NULL : previous;
    if (!Py_IS_TYPE(first, codec.event_type)
            || (before != NULL && !Py_IS_TYPE(before, codec.event_type)))
        Py_RETURN_NONE;
    /* Every row's session is the one before it's: the first row's, or previous's. */
    PyObject *owner = before != NULL ? before : first;
    org = field(owner, F_ORGANIZATION_ID);
    session = field(owner, F_SESSION_ID);
    if (head != Py_None) {
        if (!PyTuple_CheckExact(head) || PyTuple_GET_SIZE(head) != 2 || before != NULL) {
            PyErr_SetString(PyExc_TypeError, "rows: head is (organization, session) or None");
            return NULL;
        }
        if ((done = put_char(&b, '[')) != 0 || (done = put_text(&b, PyTuple_GET_ITEM(head, 0))) != 0
                || (done = put_char(&b, ',')) != 0
                || (done = put_text(&b, PyTuple_GET_ITEM(head, 1))) != 0
                || (done = put_char(&b, ',')) != 0)
            goto end;
    }
    if ((done = put_char(&b, '[')) != 0)
        goto end;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *event = PyList_GET_ITEM(events, i);
        if (i && (done = put_char(&b, ',')) != 0)
            goto end;
        if (before != NULL) {
            if (!Py_IS_TYPE(event, codec.event_type)) {
                done = DECLINE;
                goto end;
            }
            int same_org = text_equal(field(event, F_ORGANIZATION_ID), org);
            int same_session = text_equal(field(event, F_SESSION_ID), session);
            if (same_org != 1 || same_session != 1) {  /* state_codec names the session */
                done = (same_org == -2 || same_session == -2) ? -1 : DECLINE;
                goto end;
            }
        }
        if ((done = put_row(&b, event, before, org, session)) != 0)
            goto end;
        before = event;
    }
    done = put_char(&b, ']');
    if (!done && head != Py_None)
        done = put_char(&b, ']');
end:;
    PyObject *result = NULL;
    if (done == 0)
        result = PyBytes_FromStringAndSize(b.data, b.length);
    else if (done == DECLINE)
        result = Py_NewRef(Py_None);
    PyMem_Free(b.data);
    return result;
}

/* configure(PlaybackEvent, field names, kind index, derived_event_id) */
static PyObject *
configure(PyObject *module, PyObject *args)
{
    PyTypeObject *type;
    PyObject *names, *kind_index, *derived;
    (void)module;
    if (!PyArg_ParseTuple(args, "O!O!O!O:configure", &PyType_Type, &type, &PyTuple_Type,
                          &names, &PyDict_Type, &kind_index, &derived))
        return NULL;
    if (!PyCallable_Check(derived)) {
        PyErr_SetString(PyExc_TypeError, "configure: derived_event_id is to be callable");
        return NULL;
    }
    Py_ssize_t offsets[N_FIELDS];
    if (slot_offsets(type, names, N_FIELDS, offsets) < 0)
        return NULL;
    memcpy(codec.offsets, offsets, sizeof offsets);
    Py_XSETREF(codec.kind_index, Py_NewRef(kind_index));
    Py_XSETREF(codec.derived, Py_NewRef(derived));
    Py_XSETREF(codec.event_type, (PyTypeObject *)Py_NewRef(type));
    Py_RETURN_NONE;
}

static PyObject *
float_text(PyObject *module, PyObject *value)
{
    (void)module;
    double x = PyFloat_AsDouble(value);
    if (x == -1.0 && PyErr_Occurred())
        return NULL;
    Buffer b = {NULL, 0, 0};
    PyObject *result = put_double(&b, x) ? NULL : PyUnicode_FromStringAndSize(b.data, b.length);
    PyMem_Free(b.data);
    return result;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(cls, field_names, kind_index, derived_event_id)."},
    {"rows", rows, METH_VARARGS,
     "rows(events, previous, head) -> bytes | None: the events' JSON rows."},
    {"float_text", float_text, METH_O, "float_text(x) -> str: as json writes x (tests)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "processors._state_rows",
    "processors/state_codec.py's JSON rows, compiled (same bytes).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__state_rows(void)
{
    return PyModule_Create(&module);
}
