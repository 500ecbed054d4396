using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LongLM.Kernels.Ops;

/// <summary>SwiGLU gate and residual add.</summary>
public static class Elementwise
{
    /// <summary>dst = silu(gate) * up; dst may be the same span as gate or up.</summary>
    /// <remarks>
    /// silu(g) = g / (1 + e^-g), written with t = e^-|g| (always in (0, 1], so the polynomial
    /// <see cref="VectorMath{TV, TOps}.ExpNonPositive"/> serves): g / (1 + t) for g &gt;= 0, g t / (1 + t) below.
    /// TensorPrimitives.Sigmoid's exp widens to double and was 17% of a stories260K prefill; this is about 20
    /// instructions per vector. Each element is computed alone, so any split over threads gives the same bits.
    /// </remarks>
    public static unsafe void SiluMul(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> destination)
    {
        if (up.Length < gate.Length || destination.Length < gate.Length) throw new ArgumentException("silu*up: spans too short", nameof(destination));
        fixed (float* g = gate, u = up, d = destination)
        {
            if (Vector512.IsHardwareAccelerated) SiluMul<Vector512<float>, Vector512Ops>(g, u, d, gate.Length);
            else if (Vector256.IsHardwareAccelerated) SiluMul<Vector256<float>, Vector256Ops>(g, u, d, gate.Length);
            else SiluMul<Vector128<float>, Vector128Ops>(g, u, d, gate.Length);
        }
    }

    /// <summary><see cref="SiluMul(ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float})"/> at one vector width; the tail goes through a zero-padded vector.</summary>
    internal static unsafe void SiluMul<TV, TOps>(float* gate, float* up, float* destination, int n) where TV : struct where TOps : IVectorOps<TV>
    {
        int i = 0;
        for (; i + TOps.Count <= n; i += TOps.Count) TOps.Store(SiluMul<TV, TOps>(TOps.Load(gate + i), TOps.Load(up + i)), destination + i);
        if (i == n) return;
        float* g = stackalloc float[Vector512<float>.Count], u = stackalloc float[Vector512<float>.Count];
        for (int j = 0; j < TOps.Count; j++) (g[j], u[j]) = i + j < n ? (gate[i + j], up[i + j]) : (0f, 0f);
        TOps.Store(SiluMul<TV, TOps>(TOps.Load(g), TOps.Load(u)), g);
        for (int j = 0; i + j < n; j++) destination[i + j] = g[j];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV SiluMul<TV, TOps>(TV g, TV up) where TV : struct where TOps : IVectorOps<TV>
    {
        TV t = VectorMath<TV, TOps>.ExpNonPositive(TOps.Subtract(TOps.Zero, TOps.Max(g, TOps.Subtract(TOps.Zero, g))));
        TV numerator = TOps.SelectNonNegative(g, g, TOps.Multiply(g, t));
        return TOps.Multiply(TOps.Divide(numerator, TOps.Add(TOps.Create(1f), t)), up);
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
