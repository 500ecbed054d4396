using LongLM.Runtime.Config;

namespace LongLM.Runtime.Rope;

/// <summary>
/// rope_scaling "linear" (position interpolation; HF _compute_linear_scaling_rope_parameters): theta_k / factor,
/// which is the same as dividing every position by factor. Attention factor 1.
/// </summary>
public sealed class LinearScalingRope : IRopeScaling
{
    /// <summary>The rope_scaling type name.</summary>
    public const string TypeName = "linear";

    private readonly RopeFrequencies _frequencies;

    /// <summary>Base frequencies of <paramref name="ropeTheta"/> and <paramref name="rotaryDim"/>, divided by <paramref name="factor"/>.</summary>
    public LinearScalingRope(double ropeTheta, int rotaryDim, double factor)
    {
        RopeChecks.BaseAndDim(ropeTheta, rotaryDim);
        RopeChecks.Positive(factor, nameof(factor));
        RotaryDim = rotaryDim;
        Factor = factor;
        var theta = RopeFrequencies.Base(ropeTheta, rotaryDim);
        for (int k = 0; k < theta.Length; k++) theta[k] /= factor;
        _frequencies = new RopeFrequencies(theta, 1f);
    }

    /// <summary>rope_scaling "factor".</summary>
    public double Factor { get; }
    /// <inheritdoc />
    public string Type => TypeName;
    /// <inheritdoc />
    public int RotaryDim { get; }
    /// <inheritdoc />
    public bool DependsOnLength => false;
    /// <inheritdoc />
    public RopeFrequencies Compute(long sequenceLength) => _frequencies;

    /// <summary>Reads "factor" (required) from config.json's rope_scaling.</summary>
    public static LinearScalingRope FromConfig(ModelConfig config)
    {
        var s = RopeScaling.Scaling(config, TypeName);
        double factor = RopeScaling.Positive(config, s, "factor", RopeScaling.Required(config, s, "factor"));
        return new LinearScalingRope(config.RopeTheta, config.RotaryDim, factor);
    }
}
