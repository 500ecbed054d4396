using System.Runtime.Intrinsics;

namespace LongLM.Kernels.Ops;

/// <summary>
/// The decode GEMV (one activation row) for F32 weights at Vector512: four output rows at a time, so each activation
/// vector is loaded once for four weight rows, with two accumulators per row (eight independent FMA chains). Against
/// one <c>TensorPrimitives.Dot</c> per output it decodes the SmolLM-135M and TinyLlama-1.1B F32 fixtures 1.2-1.4x
/// faster (bench/RESULTS.md, "Decode GEMV").
/// </summary>
/// <remarks>
/// BF16 weights stay on <see cref="MatMul.DotBFloat16"/> (one row, two chains): the same four-row grouping for BF16,
/// with the weights widened by unpack, by zero-extending loads, or in pairs of rows, decoded 12-43% slower on this
/// machine's Zen 5 (measured, not kept).
/// Every output is the same chain whether it falls in a group of four or in the remainder: lanes accumulate the
/// products in inner order, the two accumulators are added and reduced once, then the inner tail is added in order,
/// then the bias. So an output does not depend on how outputs are split over threads.
/// </remarks>
internal static unsafe class MatMulGemv
{
    /// <summary>Values of one step: 32 (two Vector512 of floats).</summary>
    private const int Step = 32;

    /// <summary>True when this machine runs this kernel at full width.</summary>
    public static bool IsSupported => Vector512.IsHardwareAccelerated;

    /// <summary>y[o] = x . w[o, :] (+ bias[o]) for o in [outStart, outEnd), w F32 [out, in]; bias may be null.</summary>
    public static void Float32(float* x, float* w, int inDim, float* bias, float* y, int outStart, int outEnd)
    {
        int o = outStart;
        for (; o + 4 <= outEnd; o += 4)
        {
            float* w0 = w + (long)o * inDim, w1 = w0 + inDim, w2 = w1 + inDim, w3 = w2 + inDim;
            Vector512<float> a0 = default, b0 = default, a1 = default, b1 = default, a2 = default, b2 = default, a3 = default, b3 = default;
            int i = 0;
            for (; i + Step <= inDim; i += Step)
            {
                var lo = Vector512.Load(x + i);
                var hi = Vector512.Load(x + i + 16);
                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(w0 + i), lo, a0);
                b0 = Vector512.FusedMultiplyAdd(Vector512.Load(w0 + i + 16), hi, b0);
                a1 = Vector512.FusedMultiplyAdd(Vector512.Load(w1 + i), lo, a1);
                b1 = Vector512.FusedMultiplyAdd(Vector512.Load(w1 + i + 16), hi, b1);
                a2 = Vector512.FusedMultiplyAdd(Vector512.Load(w2 + i), lo, a2);
                b2 = Vector512.FusedMultiplyAdd(Vector512.Load(w2 + i + 16), hi, b2);
                a3 = Vector512.FusedMultiplyAdd(Vector512.Load(w3 + i), lo, a3);
                b3 = Vector512.FusedMultiplyAdd(Vector512.Load(w3 + i + 16), hi, b3);
            }
            y[o] = Finish(Vector512.Sum(a0 + b0), x, w0, i, inDim, bias, o);
            y[o + 1] = Finish(Vector512.Sum(a1 + b1), x, w1, i, inDim, bias, o + 1);
            y[o + 2] = Finish(Vector512.Sum(a2 + b2), x, w2, i, inDim, bias, o + 2);
            y[o + 3] = Finish(Vector512.Sum(a3 + b3), x, w3, i, inDim, bias, o + 3);
        }
        for (; o < outEnd; o++)
        {
            float* w0 = w + (long)o * inDim;
            Vector512<float> a0 = default, b0 = default;
            int i = 0;
            for (; i + Step <= inDim; i += Step)
            {
                a0 = Vector512.FusedMultiplyAdd(Vector512.Load(w0 + i), Vector512.Load(x + i), a0);
                b0 = Vector512.FusedMultiplyAdd(Vector512.Load(w0 + i + 16), Vector512.Load(x + i + 16), b0);
            }
            y[o] = Finish(Vector512.Sum(a0 + b0), x, w0, i, inDim, bias, o);
        }
    }

    private static float Finish(float sum, float* x, float* w, int i, int inDim, float* bias, int o)
    {
        for (; i < inDim; i++) sum += x[i] * w[i];
        return bias == null ? sum : sum + bias[o];
    }
}
