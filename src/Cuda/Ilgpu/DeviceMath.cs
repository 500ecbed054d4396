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

    /// <summary>
    /// tanh(x), within a few ulp: for |x| &lt; 0.5 its Taylor series to x^15 in Horner form (truncation below 1e-8
    /// relative; 1.5 ulp measured with float32 rounding), else sign(x)·(1 - e)/(1 + e) with e = e^(-2|x|) in (0, 0.37],
    /// which never overflows (±1 for large |x|) and no longer cancels (2.5 ulp with a correctly rounded exp, plus
    /// <see cref="Exp"/>'s own error).
    /// </summary>
    public static float Tanh(float x)
    {
        float a = IntrinsicMath.Abs(x);
        if (a < 0.5f)
        {
            float x2 = x * x;
            float p = -929569f / 638512875f;
            p = x2 * p + 21844f / 6081075f;
            p = x2 * p - 1382f / 155925f;
            p = x2 * p + 62f / 2835f;
            p = x2 * p - 17f / 315f;
            p = x2 * p + 2f / 15f;
            p = x2 * p - 1f / 3f;
            return x * (1f + x2 * p);
        }
        float e = Exp(-2f * a);
        float t = (1f - e) / (1f + e);
        return x < 0f ? -t : t;
    }
}
