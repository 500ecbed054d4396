using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace LongLM.Kernels.Ops;

/// <summary>
/// y[r, o] = x[r, :] . w[o, :] (+ bias[o]) with w in the nn.Linear [out, in] layout, stored F32, F16 or BF16.
/// Decode (one row) is a GEMV that must run at memory bandwidth: BF16 is widened inside the dot product
/// so the weight bytes are read exactly once; F16 rows are widened into a small L1-resident scratch.
/// </summary>
public static unsafe class MatMul
{
    /// <summary>
    /// Rows from which prefill takes the register-tiled GEMM (<see cref="MatMulTiled"/>): below, a 4-row tile would
    /// compute mostly repeated rows, and one row is the decode GEMV, which runs at memory bandwidth as it is.
    /// </summary>
    public const int TiledMinRows = 4;

    /// <summary>True when <paramref name="rows"/> rows take <see cref="MatMulTiled"/> rather than <see cref="Range"/>.</summary>
    public static bool UsesTiles(int rows) => rows >= TiledMinRows && MatMulTiled.IsSupported;

    /// <summary>
    /// Computes output features [outStart, outEnd) for all rows with one dot product per (row, output): the decode
    /// path (and prefill's where <see cref="UsesTiles"/> is false). Scratch needs w.Cols floats.
    /// </summary>
    public static void Range(ReadOnlySpan<float> x, int rows, WeightView w, ReadOnlySpan<float> bias, Span<float> y,
        int outStart, int outEnd, Span<float> scratch)
    {
        if (w.DType.IsQuantized())
        {
            QuantizeAndMultiply(x, rows, w, bias, y, outStart, outEnd, scratch);
            return;
        }
        int inDim = w.Cols, outDim = w.Rows;
        if (rows == 1 && w.DType == DType.F32 && MatMulGemv.IsSupported)
        {
            if (x.Length < inDim || y.Length < outEnd || (!bias.IsEmpty && bias.Length < outEnd))
                throw new ArgumentException("matmul: buffers too short for the weight's shape", nameof(x));
            fixed (float* px = x, py = y, pb = bias)
                MatMulGemv.Float32(px, (float*)w.Pointer, inDim, pb, py, outStart, outEnd);
            return;
        }
        for (int o = outStart; o < outEnd; o++)
        {
            float b = bias.IsEmpty ? 0f : bias[o];
            if (rows == 1 && w.DType == DType.BF16)
            {
                fixed (float* px = x)
                    y[o] = DotBFloat16(px, (ushort*)w.Pointer + (long)o * inDim, inDim) + b;
                continue;
            }
            ReadOnlySpan<float> row;
            if (w.DType == DType.F32)
            {
                row = new ReadOnlySpan<float>((float*)w.Pointer + (long)o * inDim, inDim);
            }
            else
            {
                ElementConvert.ToSingle(w.RowBytes(o), w.DType, scratch);
                row = scratch[..inDim];
            }
            for (int r = 0; r < rows; r++)
                y[r * outDim + o] = TensorPrimitives.Dot(x.Slice(r * inDim, inDim), row) + b;
        }
    }

    /// <summary>
    /// q8_0/q4_0 weights, as ggml computes them: each activation row is quantized to q8_0 (into the float scratch,
    /// <see cref="Quant.QuantDot.ScratchFloats"/> of w.Cols floats, about half of it), then every output is an int8
    /// block dot product. The backend prepares the rows once per op instead (<see cref="PrepareQuantized"/>,
    /// <see cref="QuantizedRange(ReadOnlySpan{float}, int, WeightView, ReadOnlySpan{float}, Span{float}, int, int)"/>); this per-range form is the same arithmetic.
    /// </summary>
    private static void QuantizeAndMultiply(ReadOnlySpan<float> x, int rows, WeightView w, ReadOnlySpan<float> bias, Span<float> y,
        int outStart, int outEnd, Span<float> scratch)
    {
        int inDim = w.Cols, stride = PreparedFloats(w);
        if (scratch.Length < stride) throw new ArgumentException("quantized matmul scratch too short", nameof(scratch));
        for (int r = 0; r < rows; r++)
        {
            PrepareQuantized(x.Slice(r * inDim, inDim), inDim, scratch[..stride], 0, 1);
            QuantizedRange(scratch[..stride], 1, w, bias, y.Slice(r * w.Rows, w.Rows), outStart, outEnd);
        }
    }

    /// <summary>Floats of one prepared activation row for a quantized weight (<see cref="PrepareQuantized"/>).</summary>
    public static int PreparedFloats(WeightView w) => Quant.QuantDot.ScratchFloats(w.Cols);

    /// <summary>
    /// Quantizes activation rows [rowStart, rowEnd) of x ([rows, cols]) to q8_0 blocks with their float scales and q4_0
    /// start values (<see cref="Quant.QuantActivation"/>), row r at prepared[r * PreparedFloats(w)]: once per op, so
    /// that every output range of every thread reads the same prepared row.
    /// </summary>
    public static void PrepareQuantized(ReadOnlySpan<float> x, int cols, Span<float> prepared, int rowStart, int rowEnd)
    {
        int stride = Quant.QuantDot.ScratchFloats(cols);
        if ((long)rowEnd * cols > x.Length || (long)rowEnd * stride > prepared.Length)
            throw new ArgumentException($"quantized activations: rows [{rowStart}, {rowEnd}) exceed the buffers", nameof(prepared));
        fixed (float* ps = prepared)
            for (int r = rowStart; r < rowEnd; r++)
                Quant.QuantActivation.Prepare(x.Slice(r * cols, cols), ps + (long)r * stride, stride);
    }

    /// <summary>
    /// Output features [outStart, outEnd) of every row from rows prepared by <see cref="PrepareQuantized"/>: for each
    /// output, its weight row (read once) against every activation row. Each output is one block dot product, so the
    /// result does not depend on how outputs are split.
    /// </summary>
    public static void QuantizedRange(ReadOnlySpan<float> prepared, int rows, WeightView w, ReadOnlySpan<float> bias, Span<float> y,
        int outStart, int outEnd)
    {
        int outDim = w.Rows, stride = PreparedFloats(w), blocks = w.Cols / Quant.BlockQ8_0.BlockSize;
        long rowBytes = w.DType.RowByteLength(w.Cols);
        if ((long)rows * stride > prepared.Length || (long)rows * outDim > y.Length || outStart < 0 || outEnd > outDim)
            throw new ArgumentException("quantized matmul: buffers too short", nameof(prepared));
        bool q8 = w.DType == DType.Q8_0;
        fixed (float* ps = prepared)
        {
            byte* pw = (byte*)w.Pointer + outStart * rowBytes;
            for (int o = outStart; o < outEnd; o++, pw += rowBytes)
            {
                float b = bias.IsEmpty ? 0f : bias[o];
                for (int r = 0; r < rows; r++)
                {
                    var xq = Quant.QuantActivation.View(ps + (long)r * stride, blocks);
                    y[r * outDim + o] = (q8 ? Quant.QuantDot.DotQ8_0(pw, xq) : Quant.QuantDot.DotQ4_0(pw, xq)) + b;
                }
            }
        }
    }

    /// <summary>Scalar reference: double accumulation over widened weights.</summary>
    public static void Reference(ReadOnlySpan<float> x, int rows, WeightView w, ReadOnlySpan<float> bias, Span<float> y)
    {
        float[] weights = w.ToFloat32();
        int inDim = w.Cols, outDim = w.Rows;
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outDim; o++)
            {
                double sum = bias.IsEmpty ? 0 : bias[o];
                for (int i = 0; i < inDim; i++) sum += (double)x[r * inDim + i] * weights[(long)o * inDim + i];
                y[r * outDim + o] = (float)sum;
            }
    }

    /// <summary>Dot product of float32 x with a bf16 row, widening in registers (bf16 = high half of float32).</summary>
    internal static float DotBFloat16(float* x, ushort* w, int n)
    {
        int i = 0;
        float sum = 0f;
        if (Vector512.IsHardwareAccelerated && n >= 32)
        {
            Vector512<float> acc0 = Vector512<float>.Zero, acc1 = Vector512<float>.Zero;
            for (; i <= n - 32; i += 32)
            {
                var (lo, hi) = Vector512.Widen(Vector512.Load(w + i));
                acc0 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(lo, 16).AsSingle(), Vector512.Load(x + i), acc0);
                acc1 = Vector512.FusedMultiplyAdd(Vector512.ShiftLeft(hi, 16).AsSingle(), Vector512.Load(x + i + 16), acc1);
            }
            sum = Vector512.Sum(acc0 + acc1);
        }
        else if (Vector256.IsHardwareAccelerated && n >= 16)
        {
            Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
            for (; i <= n - 16; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load(w + i));
                acc0 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(lo, 16).AsSingle(), Vector256.Load(x + i), acc0);
                acc1 = Vector256.FusedMultiplyAdd(Vector256.ShiftLeft(hi, 16).AsSingle(), Vector256.Load(x + i + 8), acc1);
            }
            sum = Vector256.Sum(acc0 + acc1);
        }
        for (; i < n; i++) sum += x[i] * BitConverter.UInt32BitsToSingle((uint)w[i] << 16);
        return sum;
    }
}
