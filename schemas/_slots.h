/* Where each field of a slotted class lives in its objects: what both compiled
 * modules (schemas/_wire_read.c, processors/_state_rows.c) need to read and
 * write PlaybackEvent's fields without a lookup per field. */
#ifndef PLAYHEAD_SLOTS_H
#define PLAYHEAD_SLOTS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

/* offsets[i] for each name of ``names`` (a tuple of n): 0, or -1 with TypeError when
 * one is not a plain object slot of ``type``, or the class has a __dict__. */
static int
slot_offsets(PyTypeObject *type, PyObject *names, Py_ssize_t n, Py_ssize_t *offsets)
{
    if (PyTuple_GET_SIZE(names) != n || type->tp_dictoffset != 0 || type->tp_alloc == NULL) {
        PyErr_Format(PyExc_TypeError, "configure: a class with __slots__ only and %zd field "
                     "names expected", n);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        PyObject *descriptor = PyDict_GetItemWithError(type->tp_dict, name);
        if (descriptor == NULL || !Py_IS_TYPE(descriptor, &PyMemberDescr_Type)) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_TypeError, "configure: %R is not a slot of %s", name,
                             type->tp_name);
            return -1;
        }
        PyMemberDef *member = ((PyMemberDescrObject *)descriptor)->d_member;
        if (member->type != T_OBJECT_EX || member->offset <= 0
                || member->offset + (Py_ssize_t)sizeof(PyObject *) > type->tp_basicsize) {
            PyErr_Format(PyExc_TypeError, "configure: %R is not an object slot", name);
            return -1;
        }
        offsets[i] = member->offset;
    }
    return 0;
}

#endif
