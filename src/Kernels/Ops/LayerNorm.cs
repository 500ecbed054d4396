using System.Numerics.Tensors;

namespace LongLM.Kernels.Ops;

/// <summary>LayerNorm (Ba et al. 2016) as torch computes it: biased variance, eps inside the square root.</summary>
public static class LayerNorm
{
    /// <summary>One row: dst = (x - mean) / sqrt(var + eps) * w + b.</summary>
    public static void Row(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> destination, float eps)
    {
        float mean = TensorPrimitives.Sum(x) / x.Length;
        TensorPrimitives.Subtract(x, mean, destination);
        float variance = TensorPrimitives.Dot(destination, destination) / x.Length;
        TensorPrimitives.Multiply(destination, 1f / MathF.Sqrt(variance + eps), destination);
        TensorPrimitives.Multiply(destination, weight, destination);
        if (!bias.IsEmpty) TensorPrimitives.Add(destination, bias, destination);
    }

    /// <summary>Scalar reference in double precision.</summary>
    public static void RowReference(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> destination, float eps)
    {
        double mean = 0;
        foreach (float v in x) mean += v;
        mean /= x.Length;
        double variance = 0;
        foreach (float v in x) variance += (v - mean) * (v - mean);
        variance /= x.Length;
        double inv = 1 / Math.Sqrt(variance + eps);
        for (int i = 0; i < x.Length; i++) destination[i] = (float)((x[i] - mean) * inv * weight[i] + (bias.IsEmpty ? 0 : bias[i]));
    }
}
