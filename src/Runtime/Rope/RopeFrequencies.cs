using LongLM.Runtime.Config;

namespace LongLM.Runtime.Rope;

/// <summary>
/// Inverse frequencies theta_k = base^(-2k/d) for the rotary pairs of a model, in double precision,
/// with the attention factor that scales cos/sin (1 unless a scaling method says otherwise).
/// </summary>
public sealed record RopeFrequencies(double[] InverseFrequencies, float AttentionFactor)
{
    /// <summary>The frequencies config.json asks for.</summary>
    public static RopeFrequencies FromConfig(ModelConfig config)
    {
        if (config.RopeScaling is { } scaling)
            throw new ConfigException(config.FilePath, $"rope_scaling type '{scaling.Type}' is not supported yet (supported: none)");
        return new RopeFrequencies(Base(config.RopeTheta, config.RotaryDim), 1f);
    }

    /// <summary>theta_k = base^(-2k/d), k = 0 .. d/2-1, as HF computes 1/(base^(arange(0, d, 2)/d)).</summary>
    public static double[] Base(double ropeTheta, int rotaryDim)
    {
        var result = new double[rotaryDim / 2];
        for (int k = 0; k < result.Length; k++) result[k] = 1.0 / Math.Pow(ropeTheta, 2.0 * k / rotaryDim);
        return result;
    }
}
