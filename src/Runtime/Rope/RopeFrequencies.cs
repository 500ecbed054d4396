using LongLM.Runtime.Config;

namespace LongLM.Runtime.Rope;

/// <summary>
/// Inverse frequencies theta_k (k = 0 .. d/2-1) for the rotary pairs of a model, in double precision, with the attention
/// factor that scales cos/sin (1 unless a scaling method says otherwise, e.g. YaRN).
/// </summary>
public sealed record RopeFrequencies(double[] InverseFrequencies, float AttentionFactor)
{
    /// <summary>
    /// The frequencies config.json asks for, when they do not depend on the sequence length (no rope_scaling, linear,
    /// yarn, llama3). Length-dependent methods (dynamic, clex) are an error here: use
    /// <see cref="RopeScaling.Create"/> and <see cref="IRopeScaling.Compute"/> with the current length.
    /// </summary>
    /// <exception cref="ConfigException">Unknown rope_scaling type, a bad field, or a length-dependent method.</exception>
    public static RopeFrequencies FromConfig(ModelConfig config)
    {
        if (config.RopeScaling is { Type: DynamicNtkRope.TypeName or ClexRope.TypeName } scaling)
            throw new ConfigException(config.FilePath,
                $"rope_scaling type '{scaling.Type}' depends on the sequence length: use RopeScaling.Create(config{(scaling.Type == ClexRope.TypeName ? ", weights" : "")}).Compute(length)");
        return RopeScaling.Create(config).Compute(config.MaxPositionEmbeddings);
    }

    /// <summary>theta_k = base^(-2k/d), k = 0 .. d/2-1, as HF computes 1/(base^(arange(0, d, 2)/d)).</summary>
    public static double[] Base(double ropeTheta, int rotaryDim)
    {
        var result = new double[rotaryDim / 2];
        for (int k = 0; k < result.Length; k++) result[k] = 1.0 / Math.Pow(ropeTheta, 2.0 * k / rotaryDim);
        return result;
    }
}
