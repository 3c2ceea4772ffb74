/*
 * rppgbench._kernels: the few loops that numpy and torch run as several memory-bound passes, each as one pass.
 *
 * - diffnorm, standardized: the float32 view arithmetic of rppgbench/store/views.py. Each computes, element by
 *   element, the same IEEE float32 operations in the same order as the numpy path (the file is built with
 *   -ffp-contract=off: no fused multiply-add may merge two roundings), so both give bit-identical values;
 *   tests/test_kernels.py checks every uint8 input.
 * - col_moments, affine: per-channel sums and the instance-norm apply (+ ReLU) of PHASE-Net's CPU encoder
 *   (rppgbench/models/_phasenet_fused.py) on (rows, channels) float32 maps. These are not bit-identical to
 *   torch's (the summation order differs); their tolerance is tested there.
 *
 * Arguments are objects with the buffer protocol (numpy arrays, memoryviews; torch tensors via .numpy()),
 * C-contiguous, of exactly the size given by the other arguments; anything else raises ValueError, TypeError or
 * BufferError naming the argument. The GIL is released while computing. On x86-64 Linux with GCC each loop is
 * compiled for AVX-512, AVX2 and baseline x86-64 and the best one the CPU has is chosen at load (target_clones);
 * without contraction these give the same float32 results as each other.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define MULTI_ISA __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MULTI_ISA
#endif

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

MULTI_ISA static void
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

MULTI_ISA static void
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

/* column tile and row block of the per-channel sums: float32 partial sums over ROWS rows, then added in float64 */
#define TILE 256
#define ROWS 64

MULTI_ISA static void
col_moments_core(const float *restrict x, Py_ssize_t rows, Py_ssize_t cols, double *restrict s,
                 double *restrict ss)
{
    float ps[TILE], pq[TILE];
    for (Py_ssize_t c0 = 0; c0 < cols; c0 += TILE) {
        Py_ssize_t cw = cols - c0 < TILE ? cols - c0 : TILE;
        for (Py_ssize_t r0 = 0; r0 < rows; r0 += ROWS) {
            Py_ssize_t r1 = rows - r0 < ROWS ? rows : r0 + ROWS;
            memset(ps, 0, sizeof ps);
            memset(pq, 0, sizeof pq);
            for (Py_ssize_t r = r0; r < r1; r++) {
                const float *restrict row = x + r * cols + c0;
                for (Py_ssize_t c = 0; c < cw; c++) {
                    float v = row[c];
                    ps[c] += v;
                    pq[c] += v * v;
                }
            }
            for (Py_ssize_t c = 0; c < cw; c++) {
                s[c0 + c] += ps[c];
                if (ss)
                    ss[c0 + c] += pq[c];
            }
        }
    }
}

/* y = x * scale[c] + bias[c] (then max(., 0), NaN kept), optionally adding the column sums of y to colsum */
#define AFFINE_BODY(SRC, DST)                                                                     \
    float ps[TILE];                                                                               \
    for (Py_ssize_t c0 = 0; c0 < cols; c0 += TILE) {                                              \
        Py_ssize_t cw = cols - c0 < TILE ? cols - c0 : TILE;                                      \
        for (Py_ssize_t r0 = 0; r0 < rows; r0 += ROWS) {                                          \
            Py_ssize_t r1 = rows - r0 < ROWS ? rows : r0 + ROWS;                                  \
            memset(ps, 0, sizeof ps);                                                             \
            for (Py_ssize_t r = r0; r < r1; r++) {                                                \
                Py_ssize_t off = r * cols + c0;                                                   \
                for (Py_ssize_t c = 0; c < cw; c++) {                                             \
                    float v = SRC[off + c] * scale[c0 + c] + bias[c0 + c];                        \
                    if (relu)                                                                     \
                        v = v < 0.0f ? 0.0f : v;                                                  \
                    DST[off + c] = v;                                                             \
                    ps[c] += v;                                                                   \
                }                                                                                 \
            }                                                                                     \
            if (colsum)                                                                           \
                for (Py_ssize_t c = 0; c < cw; c++)                                               \
                    colsum[c0 + c] += ps[c];                                                      \
        }                                                                                         \
    }

MULTI_ISA static void
affine_core(const float *restrict x, float *restrict y, Py_ssize_t rows, Py_ssize_t cols,
            const float *restrict scale, const float *restrict bias, int relu, double *restrict colsum)
{
    AFFINE_BODY(x, y)
}

MULTI_ISA static void
affine_inplace_core(float *restrict y, Py_ssize_t rows, Py_ssize_t cols, const float *restrict scale,
                    const float *restrict bias, int relu, double *restrict colsum)
{
    AFFINE_BODY(y, y)
}

MULTI_ISA static void
affine_sums_core(const float *restrict x, Py_ssize_t rows, Py_ssize_t cols, const float *restrict scale,
                 const float *restrict bias, int relu, double *restrict colsum)
{
    float ps[TILE];
    for (Py_ssize_t c0 = 0; c0 < cols; c0 += TILE) {
        Py_ssize_t cw = cols - c0 < TILE ? cols - c0 : TILE;
        for (Py_ssize_t r0 = 0; r0 < rows; r0 += ROWS) {
            Py_ssize_t r1 = rows - r0 < ROWS ? rows : r0 + ROWS;
            memset(ps, 0, sizeof ps);
            for (Py_ssize_t r = r0; r < r1; r++) {
                Py_ssize_t off = r * cols + c0;
                for (Py_ssize_t c = 0; c < cw; c++) {
                    float v = x[off + c] * scale[c0 + c] + bias[c0 + c];
                    if (relu)
                        v = v < 0.0f ? 0.0f : v;
                    ps[c] += v;
                }
            }
            for (Py_ssize_t c = 0; c < cw; c++)
                colsum[c0 + c] += ps[c];
        }
    }
}

static int
check_matrix(const Py_buffer *b, Py_ssize_t rows, Py_ssize_t cols, Py_ssize_t item, const char *name)
{
    if (rows < 0 || cols < 0 || (cols && rows > PY_SSIZE_T_MAX / 8 / cols)) {
        PyErr_Format(PyExc_ValueError, "%s: bad shape rows=%zd cols=%zd", name, rows, cols);
        return -1;
    }
    return check_len(b, rows * cols * item, name);
}

static PyObject *
kernels_col_moments(PyObject *self, PyObject *args)
{
    Py_buffer src, s, ss = {0};
    PyObject *ss_obj;
    Py_ssize_t rows, cols;
    if (!PyArg_ParseTuple(args, "y*nnw*O:col_moments", &src, &rows, &cols, &s, &ss_obj))
        return NULL;
    PyObject *result = NULL;
    int have_ss = ss_obj != Py_None;
    if (have_ss && PyObject_GetBuffer(ss_obj, &ss, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
        goto done;
    if (check_matrix(&src, rows, cols, sizeof(float), "col_moments src (float32, rows x cols)") < 0
        || check_len(&s, cols * (Py_ssize_t)sizeof(double), "col_moments s (float64, cols)") < 0
        || (have_ss && check_len(&ss, cols * (Py_ssize_t)sizeof(double), "col_moments ss (float64, cols)") < 0))
        goto done;
    Py_BEGIN_ALLOW_THREADS
    col_moments_core((const float *)src.buf, rows, cols, (double *)s.buf, have_ss ? (double *)ss.buf : NULL);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&src);
    PyBuffer_Release(&s);
    if (have_ss && ss.obj)
        PyBuffer_Release(&ss);
    return result;
}

static PyObject *
kernels_affine(PyObject *self, PyObject *args)
{
    Py_buffer src, dst = {0}, scale, bias, colsum = {0};
    PyObject *dst_obj, *colsum_obj;
    Py_ssize_t rows, cols;
    int relu;
    if (!PyArg_ParseTuple(args, "y*Onny*y*pO:affine", &src, &dst_obj, &rows, &cols, &scale, &bias, &relu,
                          &colsum_obj))
        return NULL;
    PyObject *result = NULL;
    int have_sum = colsum_obj != Py_None, have_dst = dst_obj != Py_None;
    if (have_sum && PyObject_GetBuffer(colsum_obj, &colsum, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
        goto done;
    if (have_dst && PyObject_GetBuffer(dst_obj, &dst, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
        goto done;
    if (!have_dst && !have_sum) {
        PyErr_SetString(PyExc_ValueError, "affine: dst and colsum are both None: nothing to compute");
        goto done;
    }
    if (!have_dst) {
        if (check_matrix(&src, rows, cols, sizeof(float), "affine src (float32, rows x cols)") < 0
            || check_len(&scale, cols * (Py_ssize_t)sizeof(float), "affine scale (float32, cols)") < 0
            || check_len(&bias, cols * (Py_ssize_t)sizeof(float), "affine bias (float32, cols)") < 0
            || check_len(&colsum, cols * (Py_ssize_t)sizeof(double), "affine colsum (float64, cols)") < 0)
            goto done;
        Py_BEGIN_ALLOW_THREADS
        affine_sums_core((const float *)src.buf, rows, cols, (const float *)scale.buf, (const float *)bias.buf,
                         relu, (double *)colsum.buf);
        Py_END_ALLOW_THREADS
        result = Py_NewRef(Py_None);
        goto done;
    }
    if (check_matrix(&src, rows, cols, sizeof(float), "affine src (float32, rows x cols)") < 0
        || check_matrix(&dst, rows, cols, sizeof(float), "affine dst (float32, rows x cols)") < 0
        || check_len(&scale, cols * (Py_ssize_t)sizeof(float), "affine scale (float32, cols)") < 0
        || check_len(&bias, cols * (Py_ssize_t)sizeof(float), "affine bias (float32, cols)") < 0
        || (have_sum && check_len(&colsum, cols * (Py_ssize_t)sizeof(double), "affine colsum (float64, cols)") < 0))
        goto done;
    const char *a = src.buf, *b = dst.buf;
    if (a != b && a < b + dst.len && b < a + src.len) {
        PyErr_SetString(PyExc_ValueError, "affine: src and dst overlap without being the same buffer");
        goto done;
    }
    double *cs = have_sum ? (double *)colsum.buf : NULL;
    Py_BEGIN_ALLOW_THREADS
    if (a == b)
        affine_inplace_core((float *)dst.buf, rows, cols, (const float *)scale.buf, (const float *)bias.buf, relu, cs);
    else
        affine_core((const float *)src.buf, (float *)dst.buf, rows, cols, (const float *)scale.buf,
                    (const float *)bias.buf, relu, cs);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&src);
    if (have_dst && dst.obj)
        PyBuffer_Release(&dst);
    PyBuffer_Release(&scale);
    PyBuffer_Release(&bias);
    if (have_sum && colsum.obj)
        PyBuffer_Release(&colsum);
    return result;
}

/* PHASE-Net's depthwise convolutions on channels-last maps: the spatial (1,kh,kw) one on one frame (H, W, C) with
 * "same" zero padding, and the temporal (kt,1,1) one as a weighted sum of kt frames (rows, C). Products are
 * summed tap by tap in row-major tap order, skipping taps that fall in the padding. Both can add the column sums
 * and sums of squares of their output to float64 s and ss while writing it (float32 partials over ROWS rows).
 *
 * The spatial one reads its input channels in segments: channels [seg_end[i-1], seg_end[i]) come from frame
 * srcs[i] (NULL: zeros). That is how PHASE-Net's temporal interlace mixes neighbouring frames' channels without
 * a mixed copy. */
#define MAX_SEGS 8

static inline void
flush_sums(float *ps, float *pq, double *s, double *ss, Py_ssize_t C)
{
    for (Py_ssize_t c = 0; c < C; c++) {
        s[c] += ps[c];
        ss[c] += pq[c];
        ps[c] = 0.0f;
        pq[c] = 0.0f;
    }
}

static inline void
add_sums(const float *restrict o, float *restrict ps, float *restrict pq, Py_ssize_t C)
{
    for (Py_ssize_t c = 0; c < C; c++) {
        ps[c] += o[c];
        pq[c] += o[c] * o[c];
    }
}

/* the input row ii of the mixed frame: channels [ends[g-1], ends[g]) of pixel jj from srcs[g] (NULL: zeros) */
/* running column sums of rows written one by one: float32 partials over `every` rows, then added to s and ss
 * (both NULL: nothing is summed) */
typedef struct {
    float ps[TILE], pq[TILE];
    int pending, every;
    double *s, *ss;
    Py_ssize_t C;
} RowSums;

static inline void
rowsums_init(RowSums *acc, double *s, double *ss, Py_ssize_t C, int every)
{
    memset(acc->ps, 0, sizeof acc->ps);
    memset(acc->pq, 0, sizeof acc->pq);
    acc->pending = 0;
    acc->every = every;
    acc->s = s;
    acc->ss = ss;
    acc->C = C;
}

static inline void
rowsums_add(RowSums *acc, const float *restrict o)
{
    if (!acc->s)
        return;
    add_sums(o, acc->ps, acc->pq, acc->C);
    if (++acc->pending == acc->every) {
        flush_sums(acc->ps, acc->pq, acc->s, acc->ss, acc->C);
        acc->pending = 0;
    }
}

static inline void
rowsums_done(RowSums *acc)
{
    if (acc->s && acc->pending)
        flush_sums(acc->ps, acc->pq, acc->s, acc->ss, acc->C);
}

MULTI_ISA static void
mix_row(const float *const *srcs, const Py_ssize_t *ends, int nseg, Py_ssize_t ii, Py_ssize_t w, Py_ssize_t C,
        int relu, float *restrict dst)
{
    for (Py_ssize_t jj = 0; jj < w; jj++) {
        Py_ssize_t c0 = 0;
        for (int g = 0; g < nseg; g++) {
            Py_ssize_t c1 = ends[g];
            float *restrict o = dst + jj * C;
            if (!srcs[g]) {
                memset(o + c0, 0, (size_t)(c1 - c0) * sizeof(float));
            } else if (relu) {
                const float *restrict x = srcs[g] + (ii * w + jj) * C;
                for (Py_ssize_t c = c0; c < c1; c++)
                    o[c] = x[c] < 0.0f ? 0.0f : x[c];
            } else {
                memcpy(o + c0, srcs[g] + (ii * w + jj) * C + c0, (size_t)(c1 - c0) * sizeof(float));
            }
            c0 = c1;
        }
    }
}

#define CT 16 /* channels per register tile of the spatial convolution */

MULTI_ISA static void
dw_spatial_core(const float *const *srcs, const Py_ssize_t *seg_end, int nseg, float *restrict y, Py_ssize_t h,
                Py_ssize_t w, Py_ssize_t C, const float *restrict k, int kh, int kw, int relu, double *s,
                double *ss, float *restrict rowbuf, Py_ssize_t i0, Py_ssize_t i1)
{
    int ph = kh / 2, pw = kw / 2;
    RowSums acc;
    rowsums_init(&acc, s, ss, C, ROWS);
    int direct = nseg == 1 && srcs[0] != NULL && !relu; /* one unmixed frame: read its rows in place */
    const float *rows[32];
    /* mixed rows up to `built` are in rowbuf[ii % kh]; output rows [i0, i1) need input rows from i0 - ph */
    Py_ssize_t built = (i0 - ph > 0 ? i0 - ph : 0) - 1;
    for (Py_ssize_t i = i0; i < i1; i++) {
        for (int a = 0; a < kh; a++) {
            Py_ssize_t ii = i + a - ph;
            if (ii < 0 || ii >= h) {
                rows[a] = NULL;
                continue;
            }
            if (direct) {
                rows[a] = srcs[0] + ii * w * C;
                continue;
            }
            while (built < ii) {
                built++;
                mix_row(srcs, seg_end, nseg, built, w, C, relu, rowbuf + (built % kh) * w * C);
            }
            rows[a] = rowbuf + (ii % kh) * w * C;
        }
        for (Py_ssize_t j = 0; j < w; j++) {
            float *restrict o = y + (i * w + j) * C;
            Py_ssize_t b0 = j < pw ? pw - j : 0, b1 = j + kw - pw > w ? w - j + pw : kw;
            Py_ssize_t c0 = 0;
            for (; c0 + CT <= C; c0 += CT) {
                float acc[CT] = {0};
                for (int a = 0; a < kh; a++) {
                    if (!rows[a])
                        continue;
                    for (Py_ssize_t b = b0; b < b1; b++) {
                        const float *restrict xi = rows[a] + (j + b - pw) * C + c0;
                        const float *restrict kk = k + (a * kw + b) * C + c0;
                        for (int cc = 0; cc < CT; cc++)
                            acc[cc] += xi[cc] * kk[cc];
                    }
                }
                for (int cc = 0; cc < CT; cc++)
                    o[c0 + cc] = acc[cc];
            }
            if (c0 < C) {
                for (Py_ssize_t c = c0; c < C; c++)
                    o[c] = 0.0f;
                for (int a = 0; a < kh; a++) {
                    if (!rows[a])
                        continue;
                    for (Py_ssize_t b = b0; b < b1; b++) {
                        const float *restrict xi = rows[a] + (j + b - pw) * C;
                        const float *restrict kk = k + (a * kw + b) * C;
                        for (Py_ssize_t c = c0; c < C; c++)
                            o[c] += xi[c] * kk[c];
                    }
                }
            }
            rowsums_add(&acc, o);
        }
    }
    rowsums_done(&acc);
}

#define MAX_TAPS 16

MULTI_ISA static void
dw_temporal_core(const float *const *srcs, int kt, float *restrict y, Py_ssize_t rows, Py_ssize_t C,
                 const float *restrict taps, double *s, double *ss)
{
    RowSums acc;
    rowsums_init(&acc, s, ss, C, ROWS);
    for (Py_ssize_t r = 0; r < rows; r++) {
        float *restrict o = y + r * C;
        int first = 1;
        for (int j = 0; j < kt; j++) {
            if (!srcs[j])
                continue;
            const float *restrict xi = srcs[j] + r * C;
            const float *restrict t = taps + j * C;
            if (first) {
                for (Py_ssize_t c = 0; c < C; c++)
                    o[c] = xi[c] * t[c];
                first = 0;
            } else {
                for (Py_ssize_t c = 0; c < C; c++)
                    o[c] += xi[c] * t[c];
            }
        }
        if (first)
            memset(o, 0, (size_t)C * sizeof(float));
        rowsums_add(&acc, o);
    }
    rowsums_done(&acc);
}

/* the (1,2,2) max pool of PHASE-Net's blocks on channels-last frames (n, h, w, C) -> (n, h/2, w/2, C) (h, w even),
 * adding the column sums and sums of squares of the *input* to s and ss when given (the norm's statistics are
 * those of the unpooled map; it is applied after the pool) */
MULTI_ISA static void
pool2x2_core(const float *restrict x, float *restrict y, Py_ssize_t n, Py_ssize_t h, Py_ssize_t w, Py_ssize_t C,
             double *s, double *ss)
{
    RowSums acc;
    rowsums_init(&acc, s, ss, C, ROWS);
    Py_ssize_t ho = h / 2, wo = w / 2;
    for (Py_ssize_t f = 0; f < n; f++) {
        const float *xf = x + f * h * w * C;
        float *yf = y + f * ho * wo * C;
        for (Py_ssize_t i = 0; i < ho; i++) {
            for (Py_ssize_t j = 0; j < wo; j++) {
                const float *restrict a = xf + ((2 * i) * w + 2 * j) * C, *restrict b = a + C;
                const float *restrict d = a + w * C, *restrict e = d + C;
                float *restrict o = yf + (i * wo + j) * C;
                for (Py_ssize_t c = 0; c < C; c++) {
                    float m1 = a[c] > b[c] ? a[c] : b[c];
                    float m2 = d[c] > e[c] ? d[c] : e[c];
                    o[c] = m1 > m2 ? m1 : m2;
                }
                rowsums_add(&acc, a);
                rowsums_add(&acc, b);
                rowsums_add(&acc, d);
                rowsums_add(&acc, e);
            }
        }
    }
    rowsums_done(&acc);
}

/* optional float64 (c) outputs s and ss: both None, or both writable buffers of c doubles */
static int
get_sums(PyObject *s_obj, PyObject *ss_obj, Py_buffer *s, Py_buffer *ss, Py_ssize_t c, const char *fn)
{
    if (s_obj == Py_None && ss_obj == Py_None)
        return 0;
    if (c > TILE) {
        PyErr_Format(PyExc_ValueError, "%s: sums are computed for at most %d channels, got %zd", fn, TILE, c);
        return -1;
    }
    if (PyObject_GetBuffer(s_obj, s, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (PyObject_GetBuffer(ss_obj, ss, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(s);
        return -1;
    }
    if (check_len(s, c * (Py_ssize_t)sizeof(double), "s (float64, c)") < 0
        || check_len(ss, c * (Py_ssize_t)sizeof(double), "ss (float64, c)") < 0) {
        PyBuffer_Release(s);
        PyBuffer_Release(ss);
        return -1;
    }
    return 1;
}

static int
no_overlap(const Py_buffer *a, const Py_buffer *b, const char *msg)
{
    const char *x = a->buf, *y = b->buf;
    if (x < y + b->len && y < x + a->len) {
        PyErr_SetString(PyExc_ValueError, msg);
        return -1;
    }
    return 0;
}

/* a frame argument of the convolutions: None (*ptr = NULL) or a contiguous buffer of frame_bytes that does not
 * overlap dst, acquired into bufs[*got] (released by release_frames) */
static int
get_frame(PyObject *f, Py_buffer *bufs, int *got, Py_ssize_t frame_bytes, const Py_buffer *dst, const char *what,
          const char *overlap_msg, const float **ptr)
{
    *ptr = NULL;
    if (f == Py_None)
        return 0;
    if (PyObject_GetBuffer(f, &bufs[*got], PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    Py_buffer *b = &bufs[(*got)++];
    if (check_len(b, frame_bytes, what) < 0 || no_overlap(b, dst, overlap_msg) < 0)
        return -1;
    *ptr = (const float *)b->buf;
    return 0;
}

static void
release_frames(Py_buffer *bufs, int got, int sums, Py_buffer *s, Py_buffer *ss)
{
    if (sums > 0) {
        PyBuffer_Release(s);
        PyBuffer_Release(ss);
    }
    for (int g = 0; g < got; g++)
        PyBuffer_Release(&bufs[g]);
}

static PyObject *
kernels_dw_spatial(PyObject *self, PyObject *args)
{
    PyObject *segs, *s_obj = Py_None, *ss_obj = Py_None;
    Py_buffer dst, taps, s, ss, bufs[MAX_SEGS];
    Py_ssize_t h, w, c, ends[MAX_SEGS];
    const float *ptrs[MAX_SEGS];
    float *rowbuf = NULL;
    int kh, kw, relu = 0, got = 0, sums = 0, nseg = 0;
    Py_ssize_t i0 = 0, i1 = -1;
    if (!PyArg_ParseTuple(args, "Ow*nnny*ii|pOOnn:dw_spatial", &segs, &dst, &h, &w, &c, &taps, &kh, &kw, &relu,
                          &s_obj, &ss_obj, &i0, &i1))
        return NULL;
    PyObject *result = NULL, *seq = NULL;
    if (i1 < 0)
        i1 = h;
    if (i0 < 0 || i0 > i1 || i1 > h) {
        PyErr_Format(PyExc_ValueError, "dw_spatial: output rows [%zd, %zd) outside [0, h=%zd)", i0, i1, h);
        goto done;
    }
    if (kh < 1 || kw < 1 || kh > 31 || kw > 31 || kh % 2 == 0 || kw % 2 == 0 || h < 0 || w < 0 || c < 0
        || (w && h > PY_SSIZE_T_MAX / 8 / w) || (c && h * w > PY_SSIZE_T_MAX / 8 / c)) {
        PyErr_Format(PyExc_ValueError, "dw_spatial: expected odd kernel sizes up to 31 and a valid shape, got kh=%d kw=%d "
                     "h=%zd w=%zd c=%zd", kh, kw, h, w, c);
        goto done;
    }
    Py_ssize_t frame_bytes = h * w * c * (Py_ssize_t)sizeof(float);
    if (check_len(&dst, frame_bytes, "dw_spatial dst (float32, h x w x c)") < 0
        || check_len(&taps, (Py_ssize_t)kh * kw * c * (Py_ssize_t)sizeof(float),
                     "dw_spatial taps (float32, kh x kw x c)") < 0)
        goto done;
    seq = PySequence_Fast(segs, "dw_spatial segments: expected a sequence of (channel_end, frame or None)");
    if (!seq)
        goto done;
    nseg = (int)PySequence_Fast_GET_SIZE(seq);
    if (nseg < 1 || nseg > MAX_SEGS) {
        PyErr_Format(PyExc_ValueError, "dw_spatial segments: expected 1-%d, got %d", MAX_SEGS, nseg);
        goto done;
    }
    for (int g = 0; g < nseg; g++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, g), *frame;
        Py_ssize_t end;
        if (!PyArg_ParseTuple(item, "nO;dw_spatial segment: expected (channel_end, frame or None)", &end, &frame))
            goto done;
        if (end < (g ? ends[g - 1] : 0) || end > c || (g == nseg - 1 && end != c)) {
            PyErr_Format(PyExc_ValueError, "dw_spatial segment %d: channel ends must rise to c=%zd, got %zd", g, c,
                         end);
            goto done;
        }
        ends[g] = end;
        if (get_frame(frame, bufs, &got, frame_bytes, &dst, "dw_spatial frame (float32, h x w x c)",
                      "dw_spatial: a frame overlaps dst", &ptrs[g]) < 0)
            goto done;
    }
    if ((sums = get_sums(s_obj, ss_obj, &s, &ss, c, "dw_spatial")) < 0)
        goto done;
    rowbuf = PyMem_RawMalloc((size_t)kh * (size_t)(w ? w : 1) * (size_t)(c ? c : 1) * sizeof(float));
    if (!rowbuf) {
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    dw_spatial_core(ptrs, ends, nseg, (float *)dst.buf, h, w, c, (const float *)taps.buf, kh, kw, relu,
                    sums ? (double *)s.buf : NULL, sums ? (double *)ss.buf : NULL, rowbuf, i0, i1);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyMem_RawFree(rowbuf);
    release_frames(bufs, got, sums, &s, &ss);
    Py_XDECREF(seq);
    PyBuffer_Release(&dst);
    PyBuffer_Release(&taps);
    return result;
}

static PyObject *
kernels_dw_temporal(PyObject *self, PyObject *args)
{
    PyObject *frames, *s_obj = Py_None, *ss_obj = Py_None;
    Py_buffer dst, taps, s, ss, bufs[MAX_TAPS];
    Py_ssize_t rows, c;
    const float *ptrs[MAX_TAPS];
    int kt = 0, got = 0, sums = 0;
    if (!PyArg_ParseTuple(args, "Ow*nny*|OO:dw_temporal", &frames, &dst, &rows, &c, &taps, &s_obj, &ss_obj))
        return NULL;
    PyObject *result = NULL, *seq = NULL;
    seq = PySequence_Fast(frames, "dw_temporal frames: expected a sequence of buffers or None");
    if (!seq)
        goto done;
    if (PySequence_Fast_GET_SIZE(seq) < 1 || PySequence_Fast_GET_SIZE(seq) > MAX_TAPS) {
        PyErr_Format(PyExc_ValueError, "dw_temporal frames: expected 1-%d frames, got %zd", MAX_TAPS,
                     PySequence_Fast_GET_SIZE(seq));
        goto done;
    }
    kt = (int)PySequence_Fast_GET_SIZE(seq);
    if (rows < 0 || c < 0 || (c && rows > PY_SSIZE_T_MAX / 8 / c)) {
        PyErr_Format(PyExc_ValueError, "dw_temporal: bad shape rows=%zd c=%zd", rows, c);
        goto done;
    }
    Py_ssize_t frame_bytes = rows * c * (Py_ssize_t)sizeof(float);
    if (check_len(&dst, frame_bytes, "dw_temporal dst (float32, rows x c)") < 0
        || check_len(&taps, kt * c * (Py_ssize_t)sizeof(float), "dw_temporal taps (float32, kt x c)") < 0)
        goto done;
    for (int j = 0; j < kt; j++)
        if (get_frame(PySequence_Fast_GET_ITEM(seq, j), bufs, &got, frame_bytes, &dst,
                      "dw_temporal frame (float32, rows x c)", "dw_temporal: a frame overlaps dst", &ptrs[j]) < 0)
            goto done;
    if ((sums = get_sums(s_obj, ss_obj, &s, &ss, c, "dw_temporal")) < 0)
        goto done;
    Py_BEGIN_ALLOW_THREADS
    dw_temporal_core(ptrs, kt, (float *)dst.buf, rows, c, (const float *)taps.buf,
                     sums ? (double *)s.buf : NULL, sums ? (double *)ss.buf : NULL);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    release_frames(bufs, got, sums, &s, &ss);
    Py_XDECREF(seq);
    PyBuffer_Release(&dst);
    PyBuffer_Release(&taps);
    return result;
}

static PyObject *
kernels_pool2x2(PyObject *self, PyObject *args)
{
    PyObject *s_obj = Py_None, *ss_obj = Py_None;
    Py_buffer src, dst, s, ss;
    Py_ssize_t n, h, w, c;
    int sums = 0;
    if (!PyArg_ParseTuple(args, "y*w*nnnn|OO:pool2x2", &src, &dst, &n, &h, &w, &c, &s_obj, &ss_obj))
        return NULL;
    PyObject *result = NULL;
    if (n < 0 || h < 0 || w < 0 || c < 0 || h % 2 || w % 2 || (w && h > PY_SSIZE_T_MAX / 8 / w)
        || (c && h * w > PY_SSIZE_T_MAX / 8 / c) || (h * w * c != 0 && n > PY_SSIZE_T_MAX / 8 / (h * w * c))) {
        PyErr_Format(PyExc_ValueError, "pool2x2: expected even h and w and a valid shape, got n=%zd h=%zd w=%zd "
                     "c=%zd", n, h, w, c);
        goto done;
    }
    if (check_len(&src, n * h * w * c * (Py_ssize_t)sizeof(float), "pool2x2 src (float32, n x h x w x c)") < 0
        || check_len(&dst, n * (h / 2) * (w / 2) * c * (Py_ssize_t)sizeof(float),
                     "pool2x2 dst (float32, n x h/2 x w/2 x c)") < 0
        || no_overlap(&src, &dst, "pool2x2: src and dst overlap") < 0)
        goto done;
    if ((sums = get_sums(s_obj, ss_obj, &s, &ss, c, "pool2x2")) < 0)
        goto done;
    Py_BEGIN_ALLOW_THREADS
    pool2x2_core((const float *)src.buf, (float *)dst.buf, n, h, w, c, sums ? (double *)s.buf : NULL,
                 sums ? (double *)ss.buf : NULL);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    if (sums > 0) {
        PyBuffer_Release(&s);
        PyBuffer_Release(&ss);
    }
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
    {"col_moments", kernels_col_moments, METH_VARARGS,
     "col_moments(src, rows, cols, s, ss): add the column sums of float32 src (rows x cols) to float64 s and the\n"
     "column sums of squares to float64 ss (None: skipped); float32 partial sums over 64 rows."},
    {"affine", kernels_affine, METH_VARARGS,
     "affine(src, dst, rows, cols, scale, bias, relu, colsum): dst = src * scale + bias per column (float32;\n"
     "then max(., 0) when relu), dst may be src itself or None (only the sums); adds the column sums of the result\n"
     "to float64 colsum unless None."},
    {"dw_spatial", kernels_dw_spatial, METH_VARARGS,
     "dw_spatial(segments, dst, h, w, c, taps, kh, kw[, relu, s, ss, i0, i1]): depthwise (kh, kw) convolution, 'same'\n"
     "zero padding of one channels-last frame (h x w x c float32) whose channels [end[i-1], end[i]) come from the\n"
     "frame of segment i = (end, frame or None for zeros), with max(., 0) applied to the input when relu; taps\n"
     "(kh x kw x c) float32; adds the column sums and sums of squares of dst to float64 s and ss when given; only\n"
     "output rows [i0, i1) (default all) are written, so threads can share a frame."},
    {"dw_temporal", kernels_dw_temporal, METH_VARARGS,
     "dw_temporal(frames, dst, rows, c, taps): dst = sum_j frames[j] * taps[j] per channel, frames a sequence of\n"
     "kt float32 (rows x c) buffers or None (a zero frame), taps (kt x c) float32; adds the column sums and sums\n"
     "of squares of dst to float64 s and ss when given."},
    {"pool2x2", kernels_pool2x2, METH_VARARGS,
     "pool2x2(src, dst, n, h, w, c[, s, ss]): (1,2,2) max pool of channels-last float32 frames (n x h x w x c,\n"
     "h and w even) into dst (n x h/2 x w/2 x c); adds the column sums and sums of squares of src to s and ss."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef kernels_module = {
    PyModuleDef_HEAD_INIT, "_kernels",
    "One-pass loops of rppgbench.store.views (bit-identical to numpy) and of PHASE-Net's CPU encoder.",
    -1, kernels_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__kernels(void)
{
    return PyModule_Create(&kernels_module);
}
