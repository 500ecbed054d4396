using System.Text.Json;
using LongLM.Kernels;
using LongLM.Runtime.Config;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Runtime.Rope;

/// <summary>
/// The rope_scaling table: config.json's "rope_scaling" to an <see cref="IRopeScaling"/>. The length-independent methods
/// follow HF transformers' modeling_rope_utils.py (ROPE_INIT_FUNCTIONS), computed in double precision from the formulas;
/// CLEX follows algorithms.md section 3 and needs the checkpoint's ODE tensors.
/// </summary>
public static class RopeScaling
{
    /// <summary>The rope_scaling types this runtime implements.</summary>
    public static IReadOnlyList<string> SupportedTypes { get; } =
        [DefaultRope.TypeName, LinearScalingRope.TypeName, DynamicNtkRope.TypeName, YarnRope.TypeName, Llama3Rope.TypeName, ClexRope.TypeName];

    /// <summary>
    /// The scaling method config.json asks for, set up once. CLEX reads its tensors from <paramref name="weights"/>
    /// (required for type "clex", unused otherwise) and solves its ODE on <paramref name="clexBackend"/> when one is given
    /// (else with the managed float32 solver).
    /// </summary>
    /// <exception cref="ConfigException">Unknown type, or a missing or bad rope_scaling field.</exception>
    public static IRopeScaling Create(ModelConfig config, WeightStore? weights = null, bool clexExtend = false, IBackend? clexBackend = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.RotaryDim < 2)
            throw new ConfigException(config.FilePath,
                $"partial_rotary_factor {config.PartialRotaryFactor} x head_dim {config.HeadDim} leaves {config.RotaryDim} rotary dimensions; RoPE needs at least 2");
        try
        {
            return CreateChecked(config, weights, clexExtend, clexBackend);
        }
        catch (ArgumentException e) when (e is not ArgumentNullException)
        {
            // The methods' constructors check their numbers as arguments; here every number came from config.json.
            throw new ConfigException(config.FilePath, $"rope settings are out of range: {e.Message}", e);
        }
    }

    private static IRopeScaling CreateChecked(ModelConfig config, WeightStore? weights, bool clexExtend, IBackend? clexBackend)
    {
        var scaling = config.RopeScaling;
        if (scaling is null) return new DefaultRope(config.RopeTheta, config.RotaryDim);
        return scaling.Type switch
        {
            DefaultRope.TypeName => new DefaultRope(config.RopeTheta, config.RotaryDim),
            LinearScalingRope.TypeName => LinearScalingRope.FromConfig(config),
            DynamicNtkRope.TypeName => DynamicNtkRope.FromConfig(config),
            YarnRope.TypeName => YarnRope.FromConfig(config),
            Llama3Rope.TypeName => Llama3Rope.FromConfig(config),
            ClexRope.TypeName => weights is null
                ? throw new ConfigException(config.FilePath,
                    "rope_scaling type 'clex' needs the checkpoint's CLEX tensors (model.clex_layer.*): load it with RopeScaling.Create(config, weights)")
                : ClexRope.Load(weights, config, clexExtend, clexBackend),
            _ => throw Unsupported(config, scaling.Type),
        };
    }

    /// <summary>Shorthand for <c>Create(config, weights).Compute(sequenceLength)</c>.</summary>
    public static RopeFrequencies Frequencies(ModelConfig config, long sequenceLength, WeightStore? weights = null) =>
        Create(config, weights).Compute(sequenceLength);

    internal static ConfigException Unsupported(ModelConfig config, string type) =>
        new(config.FilePath, $"rope_scaling type '{type}' is not supported (supported: {string.Join(", ", SupportedTypes)})");

    internal static RopeScalingConfig Scaling(ModelConfig config, string type) =>
        config.RopeScaling is { } s && s.Type == type
            ? s
            : throw new ConfigException(config.FilePath, $"rope_scaling type '{config.RopeScaling?.Type ?? "default"}' is not '{type}'");

    /// <summary>A numeric rope_scaling field, or null when absent ("factor" may also come from the parsed Factor).</summary>
    internal static double? Number(RopeScalingConfig s, string name) =>
        name == "factor" && s.Factor is { } f ? f : s.Values.TryGetValue(name, out var v) ? v : null;

    internal static double Required(ModelConfig config, RopeScalingConfig s, string name) =>
        Number(s, name) ?? throw new ConfigException(config.FilePath, $"rope_scaling type '{s.Type}' needs the numeric field '{name}'");

    internal static double Positive(ModelConfig config, RopeScalingConfig s, string name, double value) =>
        double.IsFinite(value) && value > 0
            ? value
            : throw new ConfigException(config.FilePath, $"rope_scaling '{name}' must be a positive number, found {value}");

    /// <summary>
    /// A boolean rope_scaling field read from the raw JSON (RopeScalingConfig keeps only numbers and strings),
    /// or null when absent.
    /// </summary>
    internal static bool? Boolean(ModelConfig config, string name)
    {
        if (config.Raw.ValueKind != JsonValueKind.Object
            || !config.Raw.TryGetProperty("rope_scaling", out var scaling) || scaling.ValueKind != JsonValueKind.Object
            || !scaling.TryGetProperty(name, out var value))
            return null;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Null => null,
            _ => throw new ConfigException(config.FilePath, $"rope_scaling '{name}' must be true or false, found {value.GetRawText()}"),
        };
    }
}
