namespace LongLM.Runtime.Rope;

/// <summary>No rope_scaling (HF "default"): theta_k = base^(-2k/d), attention factor 1.</summary>
public sealed class DefaultRope : IRopeScaling
{
    /// <summary>The rope_scaling type name.</summary>
    public const string TypeName = "default";

    private readonly RopeFrequencies _frequencies;

    /// <summary>Frequencies for <paramref name="ropeTheta"/> ("rope_theta") and rotary dimension <paramref name="rotaryDim"/>.</summary>
    public DefaultRope(double ropeTheta, int rotaryDim)
    {
        RopeChecks.BaseAndDim(ropeTheta, rotaryDim);
        RotaryDim = rotaryDim;
        _frequencies = new RopeFrequencies(RopeFrequencies.Base(ropeTheta, rotaryDim), 1f);
    }

    /// <inheritdoc />
    public string Type => TypeName;
    /// <inheritdoc />
    public int RotaryDim { get; }
    /// <inheritdoc />
    public bool DependsOnLength => false;
    /// <inheritdoc />
    public RopeFrequencies Compute(long sequenceLength) => _frequencies;
}
