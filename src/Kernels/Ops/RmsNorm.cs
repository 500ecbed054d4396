using System.Numerics.Tensors;

namespace LongLM.Kernels.Ops;

/// <summary>RMSNorm (Zhang and Sennrich 2019) as HF Llama computes it: in float32, weight applied after normalising.</summary>
public static class RmsNorm
{
    /// <summary>One row: dst = x / sqrt(mean(x^2) + eps) * w (or * (1 + w)).</summary>
    public static void Row(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> destination, float eps, bool addUnitOffset)
    {
        float sumSquares = TensorPrimitives.Dot(x, x);
        float inv = 1f / MathF.Sqrt(sumSquares / x.Length + eps);
        TensorPrimitives.Multiply(x, inv, destination);
        if (addUnitOffset)
        {
            // (1 + w) form used by Gemma-style checkpoints.
            for (int i = 0; i < destination.Length; i++) destination[i] *= 1f + weight[i];
        }
        else
        {
            TensorPrimitives.Multiply(destination, weight, destination);
        }
    }

    /// <summary>Scalar reference in double precision.</summary>
    public static void RowReference(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> destination, float eps, bool addUnitOffset)
    {
        double sum = 0;
        for (int i = 0; i < x.Length; i++) sum += (double)x[i] * x[i];
        double inv = 1.0 / Math.Sqrt(sum / x.Length + eps);
        for (int i = 0; i < x.Length; i++)
            destination[i] = (float)(x[i] * inv * (addUnitOffset ? 1.0 + weight[i] : weight[i]));
    }
}
