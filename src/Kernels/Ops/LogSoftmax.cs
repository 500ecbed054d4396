using System.Numerics.Tensors;

namespace LongLM.Kernels.Ops;

/// <summary>Numerically stable log-softmax over one row.</summary>
public static class LogSoftmax
{
    /// <summary>dst = x - max - log(sum(exp(x - max))).</summary>
    public static void Row(ReadOnlySpan<float> x, Span<float> destination)
    {
        float max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, destination);
        // Sum in the destination via exp, then restore the shifted logits; keeps the op allocation-free.
        double sum = 0;
        for (int i = 0; i < destination.Length; i++) sum += Math.Exp(destination[i]);
        TensorPrimitives.Subtract(destination, (float)Math.Log(sum), destination);
    }

    /// <summary>Scalar reference in double precision.</summary>
    public static void RowReference(ReadOnlySpan<float> x, Span<float> destination)
    {
        double max = double.NegativeInfinity;
        foreach (float v in x) max = Math.Max(max, v);
        double sum = 0;
        foreach (float v in x) sum += Math.Exp(v - max);
        double log = Math.Log(sum);
        for (int i = 0; i < x.Length; i++) destination[i] = (float)(x[i] - max - log);
    }
}
