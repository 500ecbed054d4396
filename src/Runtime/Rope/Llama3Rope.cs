using LongLM.Runtime.Config;

namespace LongLM.Runtime.Rope;

/// <summary>
/// rope_scaling "llama3" (Llama 3.1; HF _compute_llama3_parameters). With wavelength w_k = 2 pi / theta_k,
/// low_freq_wavelen = L_orig / low_freq_factor and high_freq_wavelen = L_orig / high_freq_factor:
/// <code>
/// w_k &gt; low_freq_wavelen   →  theta_k / factor                         (long wavelengths: interpolate)
/// w_k &lt; high_freq_wavelen  →  theta_k                                  (short wavelengths: keep)
/// otherwise                →  (1 - s) theta_k / factor + s theta_k,  s = (L_orig / w_k - low_freq_factor) / (high_freq_factor - low_freq_factor)
/// </code>
/// tested in that order, as HF does. Attention factor 1.
/// </summary>
public sealed class Llama3Rope : IRopeScaling
{
    /// <summary>The rope_scaling type name.</summary>
    public const string TypeName = "llama3";

    private readonly RopeFrequencies _frequencies;

    /// <summary>Llama 3 scaling of the base frequencies of <paramref name="ropeTheta"/>.</summary>
    public Llama3Rope(double ropeTheta, int rotaryDim, double factor, double lowFreqFactor, double highFreqFactor, double originalMaxPositionEmbeddings)
    {
        RopeChecks.BaseAndDim(ropeTheta, rotaryDim);
        RopeChecks.Positive(factor, nameof(factor));
        RopeChecks.Positive(lowFreqFactor, nameof(lowFreqFactor));
        RopeChecks.Positive(highFreqFactor, nameof(highFreqFactor));
        RopeChecks.Positive(originalMaxPositionEmbeddings, nameof(originalMaxPositionEmbeddings));
        RotaryDim = rotaryDim;
        double lowFreqWavelen = originalMaxPositionEmbeddings / lowFreqFactor;
        double highFreqWavelen = originalMaxPositionEmbeddings / highFreqFactor;
        var theta = RopeFrequencies.Base(ropeTheta, rotaryDim);
        for (int k = 0; k < theta.Length; k++)
        {
            double wavelen = 2 * Math.PI / theta[k];
            if (wavelen > lowFreqWavelen)
            {
                theta[k] /= factor;
            }
            else if (!(wavelen < highFreqWavelen))
            {
                double smooth = (originalMaxPositionEmbeddings / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                theta[k] = (1 - smooth) * theta[k] / factor + smooth * theta[k];
            }
        }
        _frequencies = new RopeFrequencies(theta, 1f);
    }

    /// <inheritdoc />
    public string Type => TypeName;
    /// <inheritdoc />
    public int RotaryDim { get; }
    /// <inheritdoc />
    public bool DependsOnLength => false;
    /// <inheritdoc />
    public RopeFrequencies Compute(long sequenceLength) => _frequencies;

    /// <summary>
    /// Reads factor, low_freq_factor, high_freq_factor (required) and original_max_position_embeddings (falling back
    /// to max_position_embeddings, as HF 5.x does) from rope_scaling.
    /// </summary>
    public static Llama3Rope FromConfig(ModelConfig config)
    {
        var s = RopeScaling.Scaling(config, TypeName);
        double Field(string name) => RopeScaling.Positive(config, s, name, RopeScaling.Required(config, s, name));
        double original = RopeScaling.Number(s, "original_max_position_embeddings") ?? config.MaxPositionEmbeddings;
        RopeScaling.Positive(config, s, "original_max_position_embeddings", original);
        return new Llama3Rope(config.RopeTheta, config.RotaryDim, Field("factor"), Field("low_freq_factor"), Field("high_freq_factor"), original);
    }
}
