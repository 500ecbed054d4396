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
            QuantizedRange(x, rows, w, bias, y, outStart, outEnd, scratch);
            return;
        }
        int inDim = w.Cols, outDim = w.Rows;
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
    /// block dot product.
    /// </summary>
    private static void QuantizedRange(ReadOnlySpan<float> x, int rows, WeightView w, ReadOnlySpan<float> bias, Span<float> y,
        int outStart, int outEnd, Span<float> scratch)
    {
        int inDim = w.Cols, outDim = w.Rows;
        long rowBytes = w.DType.RowByteLength(inDim);
        bool q8 = w.DType == DType.Q8_0;
        fixed (float* ps = scratch)
            for (int r = 0; r < rows; r++)
            {
                var xq = Quant.QuantActivation.Prepare(x.Slice(r * inDim, inDim), ps, scratch.Length);
                byte* pw = (byte*)w.Pointer + outStart * rowBytes;
                for (int o = outStart; o < outEnd; o++, pw += rowBytes)
                {
                    float dot = q8 ? Quant.QuantDot.DotQ8_0(pw, xq) : Quant.QuantDot.DotQ4_0(pw, xq);
                    y[r * outDim + o] = dot + (bias.IsEmpty ? 0f : bias[o]);
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
