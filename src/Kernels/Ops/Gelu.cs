namespace LongLM.Kernels.Ops;

/// <summary>Which GELU: torch's exact erf form (MPT, GPT-NeoX) or the tanh approximation (BLOOM, GPT-2 "gelu_new").</summary>
public enum GeluApproximation
{
    /// <summary>x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)).</summary>
    None,
    /// <summary>0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).</summary>
    Tanh,
}

/// <summary>GELU (Hendrycks and Gimpel 2016).</summary>
public static class Gelu
{
    /// <summary>Elementwise GELU; dst may alias x.</summary>
    public static void Apply(ReadOnlySpan<float> x, Span<float> destination, GeluApproximation approximation)
    {
        for (int i = 0; i < x.Length; i++) destination[i] = Value(x[i], approximation);
    }

    /// <summary>One value (float32 arithmetic, as a kernel computes it).</summary>
    public static float Value(float x, GeluApproximation approximation) => approximation == GeluApproximation.Tanh
        ? 0.5f * x * (1f + MathF.Tanh(0.7978845608f * (x + 0.044715f * x * x * x)))
        : 0.5f * x * (1f + Erf(x * 0.70710678118f));

    /// <summary>Scalar reference in double precision.</summary>
    public static double Reference(double x, GeluApproximation approximation) => approximation == GeluApproximation.Tanh
        ? 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)))
        : 0.5 * x * (1 + ErfReference(x / Math.Sqrt(2)));

    /// <summary>
    /// erf in float32 from Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7), which .NET lacks; the
    /// same expression runs in the GPU kernels.
    /// </summary>
    public static float Erf(float x)
    {
        float sign = x < 0 ? -1f : 1f;
        float a = MathF.Abs(x);
        float t = 1f / (1f + 0.3275911f * a);
        float poly = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f + t * (-1.453152027f + t * 1.061405429f))));
        return sign * (1f - poly * MathF.Exp(-a * a));
    }

    /// <summary>erf in double by its Maclaurin series (small |x|) or continued fraction of erfc (large |x|), to about 1e-15.</summary>
    public static double ErfReference(double x)
    {
        double a = Math.Abs(x);
        double result;
        if (a < 2.5)
        {
            // erf x = 2/sqrt(pi) sum_n (-1)^n x^(2n+1) / (n! (2n+1))
            double term = a, sum = a;
            for (int n = 1; n < 200 && Math.Abs(term) > 1e-17 * Math.Abs(sum); n++)
            {
                term *= -a * a / n;
                sum += term / (2 * n + 1);
            }
            result = 2 / Math.Sqrt(Math.PI) * sum;
        }
        else
        {
            // erfc x = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))) (Lentz-free backward evaluation)
            double fraction = 0;
            for (int n = 60; n >= 1; n--) fraction = n / 2.0 / (a + fraction);
            result = 1 - Math.Exp(-a * a) / Math.Sqrt(Math.PI) / (a + fraction);
        }
        return x < 0 ? -result : result;
    }
}
