using LongLM.Runtime.Config;

namespace LongLM.Runtime.Rope;

/// <summary>
/// rope_scaling "dynamic" (dynamic NTK; HF _compute_dynamic_ntk_parameters). For a sequence length S above the trained
/// length L = max_position_embeddings the base grows to
/// <c>base' = base * ((factor * S / L) - (factor - 1))^(d / (d - 2))</c> and theta_k = base'^(-2k/d); at or below L
/// the frequencies are the base ones. Attention factor 1.
/// </summary>
/// <remarks>
/// HF keeps the frequencies of the longest length seen so far (its dynamic_rope_update recomputes only when the length
/// grows, and resets once a call is shorter than L again); <see cref="Compute"/> is the pure function of S, and
/// that caching policy is the caller's.
/// </remarks>
public sealed class DynamicNtkRope : IRopeScaling
{
    /// <summary>The rope_scaling type name.</summary>
    public const string TypeName = "dynamic";

    private readonly RopeFrequencies _base;

    /// <summary>Dynamic NTK over <paramref name="ropeTheta"/>, trained length <paramref name="maxPositionEmbeddings"/>.</summary>
    public DynamicNtkRope(double ropeTheta, int rotaryDim, double factor, long maxPositionEmbeddings)
    {
        RopeChecks.BaseAndDim(ropeTheta, rotaryDim);
        if (rotaryDim < 4) throw new ArgumentOutOfRangeException(nameof(rotaryDim), rotaryDim, "dynamic NTK needs d >= 4 (the exponent is d/(d-2))");
        RopeChecks.Positive(factor, nameof(factor));
        RopeChecks.Positive(maxPositionEmbeddings, nameof(maxPositionEmbeddings));
        RopeTheta = ropeTheta;
        RotaryDim = rotaryDim;
        Factor = factor;
        MaxPositionEmbeddings = maxPositionEmbeddings;
        _base = new RopeFrequencies(RopeFrequencies.Base(ropeTheta, rotaryDim), 1f);
    }

    /// <summary>"rope_theta" before scaling.</summary>
    public double RopeTheta { get; }
    /// <summary>rope_scaling "factor".</summary>
    public double Factor { get; }
    /// <summary>The trained length L ("max_position_embeddings").</summary>
    public long MaxPositionEmbeddings { get; }
    /// <inheritdoc />
    public string Type => TypeName;
    /// <inheritdoc />
    public int RotaryDim { get; }
    /// <inheritdoc />
    public bool DependsOnLength => true;

    /// <summary>The scaled base for a sequence of <paramref name="sequenceLength"/> (rope_theta itself up to L).</summary>
    public double ScaledBase(long sequenceLength)
    {
        if (sequenceLength <= MaxPositionEmbeddings) return RopeTheta;
        double d = RotaryDim;
        return RopeTheta * Math.Pow(Factor * sequenceLength / MaxPositionEmbeddings - (Factor - 1), d / (d - 2));
    }

    /// <inheritdoc />
    public RopeFrequencies Compute(long sequenceLength) =>
        sequenceLength <= MaxPositionEmbeddings ? _base : new RopeFrequencies(RopeFrequencies.Base(ScaledBase(sequenceLength), RotaryDim), 1f);

    /// <summary>Reads "factor" (required) from rope_scaling; L is max_position_embeddings, as in HF.</summary>
    public static DynamicNtkRope FromConfig(ModelConfig config)
    {
        var s = RopeScaling.Scaling(config, TypeName);
        double factor = RopeScaling.Positive(config, s, "factor", RopeScaling.Required(config, s, "factor"));
        return new DynamicNtkRope(config.RopeTheta, config.RotaryDim, factor, config.MaxPositionEmbeddings);
    }
}
