using LongLM.Runtime.Config;

namespace LongLM.Runtime.Rope;

/// <summary>
/// rope_scaling "yarn" (HF _compute_yarn_parameters). Pairs that turn more than beta_fast times over the original
/// context keep theta_k (extrapolation), pairs that turn fewer than beta_slow times get theta_k / factor
/// (interpolation), and a linear ramp over the pair index blends the two in between:
/// <code>
/// dim(r)     = d * ln(L_orig / (2 pi r)) / (2 ln base)              (find_correction_dim)
/// low, high  = floor(dim(beta_fast)), ceil(dim(beta_slow))          (no floor/ceil when truncate is false)
///              clamped to [0, d-1]; high += 0.001 when low == high
/// ramp_k     = clamp((k - low) / (high - low), 0, 1)
/// e_k        = 1 - ramp_k                                           (extrapolation factor)
/// theta'_k   = theta_k / factor * (1 - e_k) + theta_k * e_k
/// </code>
/// The attention factor (which multiplies cos and sin) is "attention_factor" when given, else
/// mscale(factor, mscale) / mscale(factor, mscale_all_dim) when both are given and non-zero, else mscale(factor),
/// with mscale(s, m) = 0.1 m ln(s) + 1 for s &gt; 1 and 1 otherwise.
/// </summary>
/// <remarks>
/// Field defaults follow current HF (5.x): original_max_position_embeddings falls back to max_position_embeddings,
/// factor to max_position_embeddings / original_max_position_embeddings when missing, beta_fast/beta_slow to 32/1
/// when missing or zero, truncate to true. transformers 4.4x-4.5x instead replaced factor by that ratio whenever
/// original_max_position_embeddings was given; the two agree when config.json is consistent.
/// </remarks>
public sealed class YarnRope : IRopeScaling
{
    /// <summary>The rope_scaling type name.</summary>
    public const string TypeName = "yarn";

    private readonly RopeFrequencies _frequencies;

    /// <summary>YaRN over <paramref name="ropeTheta"/> for a model trained on <paramref name="originalMaxPositionEmbeddings"/> tokens.</summary>
    /// <param name="ropeTheta">"rope_theta".</param>
    /// <param name="rotaryDim">Rotary dimension d.</param>
    /// <param name="factor">"factor" (context extension ratio).</param>
    /// <param name="originalMaxPositionEmbeddings">The pre-extension context L_orig.</param>
    /// <param name="attentionFactor">"attention_factor"; null derives it from factor and mscale.</param>
    /// <param name="betaFast">"beta_fast" (rotations above which a pair extrapolates).</param>
    /// <param name="betaSlow">"beta_slow" (rotations below which a pair interpolates).</param>
    /// <param name="mscale">"mscale" (DeepSeek); null or 0 when absent.</param>
    /// <param name="mscaleAllDim">"mscale_all_dim" (DeepSeek); null or 0 when absent.</param>
    /// <param name="truncate">"truncate": round the ramp ends to whole pair indices.</param>
    public YarnRope(double ropeTheta, int rotaryDim, double factor, double originalMaxPositionEmbeddings, double? attentionFactor = null,
        double betaFast = 32, double betaSlow = 1, double? mscale = null, double? mscaleAllDim = null, bool truncate = true)
    {
        RopeChecks.BaseAndDim(ropeTheta, rotaryDim);
        RopeChecks.Positive(factor, nameof(factor));
        RopeChecks.Positive(originalMaxPositionEmbeddings, nameof(originalMaxPositionEmbeddings));
        RopeChecks.Positive(betaFast, nameof(betaFast));
        RopeChecks.Positive(betaSlow, nameof(betaSlow));
        RotaryDim = rotaryDim;
        Factor = factor;

        AttentionFactor = attentionFactor
            ?? (mscale is { } m && m != 0 && mscaleAllDim is { } mAll && mAll != 0
                ? MScale(factor, m) / MScale(factor, mAll)
                : MScale(factor));

        double d = rotaryDim;
        double CorrectionDim(double rotations) =>
            d * Math.Log(originalMaxPositionEmbeddings / (rotations * 2 * Math.PI)) / (2 * Math.Log(ropeTheta));
        double low = CorrectionDim(betaFast), high = CorrectionDim(betaSlow);
        if (truncate)
        {
            low = Math.Floor(low);
            high = Math.Ceiling(high);
        }
        low = Math.Max(low, 0);
        high = Math.Min(high, d - 1);
        if (low == high) high += 0.001; // HF: avoids 0/0 in the ramp
        RampLow = low;
        RampHigh = high;

        var theta = RopeFrequencies.Base(ropeTheta, rotaryDim);
        for (int k = 0; k < theta.Length; k++)
        {
            double ramp = Math.Clamp((k - low) / (high - low), 0, 1);
            double extrapolationFactor = 1 - ramp;
            double interpolation = 1 / (factor * Math.Pow(ropeTheta, 2.0 * k / rotaryDim));
            theta[k] = interpolation * (1 - extrapolationFactor) + theta[k] * extrapolationFactor;
        }
        _frequencies = new RopeFrequencies(theta, (float)AttentionFactor);
    }

    /// <summary>rope_scaling "factor".</summary>
    public double Factor { get; }
    /// <summary>The cos/sin multiplier (float64 before it is stored as float in <see cref="RopeFrequencies"/>).</summary>
    public double AttentionFactor { get; }
    /// <summary>Pair index where the ramp starts (below: pure extrapolation).</summary>
    public double RampLow { get; }
    /// <summary>Pair index where the ramp ends (above: pure interpolation).</summary>
    public double RampHigh { get; }
    /// <inheritdoc />
    public string Type => TypeName;
    /// <inheritdoc />
    public int RotaryDim { get; }
    /// <inheritdoc />
    public bool DependsOnLength => false;
    /// <inheritdoc />
    public RopeFrequencies Compute(long sequenceLength) => _frequencies;

    /// <summary>YaRN's attention temperature sqrt(1/t) = 0.1 m ln(s) + 1 for s &gt; 1, else 1 (HF get_mscale).</summary>
    public static double MScale(double scale, double mscale = 1) => scale <= 1 ? 1.0 : 0.1 * mscale * Math.Log(scale) + 1.0;

    /// <summary>Reads the rope_scaling fields (see the class remarks for their defaults).</summary>
    public static YarnRope FromConfig(ModelConfig config)
    {
        var s = RopeScaling.Scaling(config, TypeName);
        double original = RopeScaling.Number(s, "original_max_position_embeddings") is { } o && o != 0 ? o : config.MaxPositionEmbeddings;
        RopeScaling.Positive(config, s, "original_max_position_embeddings", original);
        double factor = RopeScaling.Positive(config, s, "factor", RopeScaling.Number(s, "factor") ?? config.MaxPositionEmbeddings / original);
        double? attention = RopeScaling.Number(s, "attention_factor");
        if (attention is { } a && (!double.IsFinite(a) || a < 0))
            throw new ConfigException(config.FilePath, $"rope_scaling 'attention_factor' must be a non-negative number, found {a}");
        // HF: `rope_scaling.get("beta_fast") or 32`, so 0 also means the default.
        double betaFast = RopeScaling.Number(s, "beta_fast") is { } bf && bf != 0 ? bf : 32;
        double betaSlow = RopeScaling.Number(s, "beta_slow") is { } bs && bs != 0 ? bs : 1;
        RopeScaling.Positive(config, s, "beta_fast", betaFast);
        RopeScaling.Positive(config, s, "beta_slow", betaSlow);
        return new YarnRope(config.RopeTheta, config.RotaryDim, factor, original, attention, betaFast, betaSlow,
            RopeScaling.Number(s, "mscale"), RopeScaling.Number(s, "mscale_all_dim"), RopeScaling.Boolean(config, "truncate") ?? true);
    }
}
