/*
 * rppgbench.store._kernels: the float32 view arithmetic of rppgbench/store/views.py in one pass over uint8 planes.
 *
 * Each function computes, element by element, the same IEEE float32 operations in the same order as the numpy
 * path of views.py (built with -ffp-contract=off: no fused multiply-add may merge two roundings), so both paths
 * give bit-identical values; tests/test_store_kernels.py checks it. numpy needs a float32 temporary per operand
 * and one pass per operation; here each element is loaded once and written once.
 *
 * Arguments are objects with the buffer protocol (numpy arrays, memoryviews), C-contiguous, of exactly the size
 * given by the other arguments; anything else raises ValueError/BufferError naming the argument. The GIL is
 * released while computing, so DataLoader threads can run these kernels in parallel.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

static int
check_len(const Py_buffer *b, Py_ssize_t want, const char *name)
{
    if (b->len != want) {
        PyErr_Format(PyExc_ValueError, "%s: expected a contiguous buffer of %zd bytes, got %zd bytes",
                     name, want, b->len);
        return -1;
    }
    return 0;
}

static void
diffnorm_core(const uint8_t *restrict u, float *restrict o, Py_ssize_t count, Py_ssize_t frame, float std)
{
    /* o[t] = (u[t+1] - u[t]) / ((u[t+1] + u[t] + 1e-7) * std), t < n: views._diffnorm, operation by operation */
    const uint8_t *restrict a = u + frame;
    const float eps = 1e-7f;
    for (Py_ssize_t i = 0; i < count; i++) {
        float fa = (float)a[i];
        float fb = (float)u[i];
        float den = (fa + fb) + eps;
        den = den * std;
        o[i] = (fa - fb) / den;
    }
}

static void
standardized_core(const uint8_t *restrict u, float *restrict o, Py_ssize_t count, float mean, float inv)
{
    /* o = (u - mean) * inv: views._standardized (np.subtract in float32, then *= inv) */
    for (Py_ssize_t i = 0; i < count; i++) {
        float x = (float)u[i] - mean;
        o[i] = x * inv;
    }
}

static PyObject *
kernels_diffnorm(PyObject *self, PyObject *args)
{
    Py_buffer src, dst;
    Py_ssize_t n, frame;
    float std;
    if (!PyArg_ParseTuple(args, "y*w*nnf:diffnorm", &src, &dst, &n, &frame, &std))
        return NULL;
    PyObject *result = NULL;
    if (n < 0 || frame < 0) {
        PyErr_Format(PyExc_ValueError, "diffnorm: n and frame must be >= 0, got n=%zd frame=%zd", n, frame);
        goto done;
    }
    if (frame && n > (PY_SSIZE_T_MAX / 4 - frame) / frame) {
        PyErr_SetString(PyExc_OverflowError, "diffnorm: n * frame overflows");
        goto done;
    }
    if (check_len(&src, (n + 1) * frame, "diffnorm src (uint8, n+1 frames)") < 0
        || check_len(&dst, n * frame * (Py_ssize_t)sizeof(float), "diffnorm dst (float32, n frames)") < 0)
        goto done;
    Py_BEGIN_ALLOW_THREADS
    diffnorm_core((const uint8_t *)src.buf, (float *)dst.buf, n * frame, frame, std);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    return result;
}

static PyObject *
kernels_standardized(PyObject *self, PyObject *args)
{
    Py_buffer src, dst;
    float mean, inv;
    if (!PyArg_ParseTuple(args, "y*w*ff:standardized", &src, &dst, &mean, &inv))
        return NULL;
    PyObject *result = NULL;
    if (src.len > PY_SSIZE_T_MAX / 4) {
        PyErr_SetString(PyExc_OverflowError, "standardized: src too large");
        goto done;
    }
    if (check_len(&dst, src.len * (Py_ssize_t)sizeof(float), "standardized dst (float32, one per src byte)") < 0)
        goto done;
    Py_BEGIN_ALLOW_THREADS
    standardized_core((const uint8_t *)src.buf, (float *)dst.buf, src.len, mean, inv);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    return result;
}

static PyMethodDef kernels_methods[] = {
    {"diffnorm", kernels_diffnorm, METH_VARARGS,
     "diffnorm(src, dst, n, frame, std): dst[t] = (src[t+1] - src[t]) / ((src[t+1] + src[t] + 1e-7) * std) for\n"
     "t < n, src n+1 uint8 frames of `frame` bytes, dst n float32 frames; float32 arithmetic in that order."},
    {"standardized", kernels_standardized, METH_VARARGS,
     "standardized(src, dst, mean, inv): dst = (float32(src) - mean) * inv, src uint8, dst float32 of its size."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef kernels_module = {
    PyModuleDef_HEAD_INIT, "_kernels",
    "Float32 view arithmetic of rppgbench.store.views on uint8 planes (bit-identical to its numpy path).",
    -1, kernels_methods,
};

PyMODINIT_FUNC
PyInit__kernels(void)
{
    return PyModule_Create(&kernels_module);
}
