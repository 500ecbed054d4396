using ILGPU;

namespace LongLM.Kernels.Ilgpu;

/// <summary>
/// exp and log for kernels from the base-2 instructions every backend has (PTX ex2.approx / lg2.approx), as
/// CUDA's __expf and __logf do. ILGPU's PTX backend implements MathF.Exp and MathF.Log only through
/// ILGPU.Algorithms (EnableAlgorithms); these keep the kernels on core ILGPU, so any context compiles them.
/// </summary>
/// <remarks>
/// exp: the relative error is a few ulp plus |x| * 2^-24 from rounding x * log2(e), below 2e-6 for the
/// softmax and SiLU arguments here (|x| &lt; ~30). On the CPU accelerator both are the managed functions.
/// </remarks>
public static class DeviceMath
{
    private const float Log2E = 1.44269504088896341f;
    private const float Ln2 = 0.693147180559945309f;

    /// <summary>e^x; exp(-inf) = 0.</summary>
    public static float Exp(float x) => IntrinsicMath.CPUOnly.Exp2(x * Log2E);

    /// <summary>ln(x) for x &gt; 0.</summary>
    public static float Log(float x) => IntrinsicMath.CPUOnly.Log2(x) * Ln2;
}
