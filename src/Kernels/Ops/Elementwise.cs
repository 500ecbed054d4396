using System.Numerics.Tensors;

namespace LongLM.Kernels.Ops;

/// <summary>SwiGLU gate and residual add.</summary>
public static class Elementwise
{
    /// <summary>dst = silu(gate) * up; dst may be the same span as gate or up.</summary>
    public static void SiluMul(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> destination)
    {
        // silu(g) = g * sigmoid(g). Chunks through a stack buffer keep it vectorised and safe when dst aliases gate.
        Span<float> sigmoid = stackalloc float[256];
        for (int i = 0; i < gate.Length; i += sigmoid.Length)
        {
            int n = Math.Min(sigmoid.Length, gate.Length - i);
            var s = sigmoid[..n];
            TensorPrimitives.Sigmoid(gate.Slice(i, n), s);
            TensorPrimitives.Multiply(s, gate.Slice(i, n), s);
            TensorPrimitives.Multiply(s, up.Slice(i, n), destination.Slice(i, n));
        }
    }

    /// <summary>Scalar reference for <see cref="SiluMul"/>.</summary>
    public static void SiluMulReference(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> destination)
    {
        for (int i = 0; i < gate.Length; i++)
        {
            double g = gate[i];
            destination[i] = (float)(g / (1.0 + Math.Exp(-g)) * up[i]);
        }
    }

    /// <summary>dst = a + b.</summary>
    public static void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> destination) =>
        TensorPrimitives.Add(a, b, destination);

    /// <summary>Scalar reference for <see cref="Add"/>.</summary>
    public static void AddReference(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> destination)
    {
        for (int i = 0; i < a.Length; i++) destination[i] = a[i] + b[i];
    }
}
