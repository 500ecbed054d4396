using LongLM.Kernels;
using LongLM.Models.Bloom;
using LongLM.Models.GptJ;
using LongLM.Models.GptNeoX;
using LongLM.Models.Llama;
using LongLM.Models.Mixtral;
using LongLM.Runtime;
using LongLM.Models.Mpt;
using LongLM.Models.Phi;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Config;
using LongLM.Runtime.Inference;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Models;

/// <summary>Maps config.json ("architectures", then "model_type") to the file that implements the family.</summary>
public static class ModelRegistry
{
    /// <param name="Name">The family's name (its folder).</param>
    /// <param name="Architectures">config.json "architectures" it runs.</param>
    /// <param name="ModelTypes">config.json "model_type"s it runs (when no architecture matches).</param>
    /// <param name="Positions">"rope" or "alibi".</param>
    /// <param name="ReadConfig">
    /// The family's reading of config.json into the runtime's common fields (its own HF names and defaults: MLP width,
    /// trained length, rotary dims, tied head ...); the result is validated after.
    /// </param>
    /// <param name="Create">Builds the model.</param>
    private sealed record Family(string Name, string[] Architectures, string[] ModelTypes, string Positions,
        Func<ModelConfig, ModelConfig> ReadConfig,
        Func<ModelConfig, WeightStore, IBackend, AttentionPolicy, ModelOptions, ICausalLM> Create);

    private static ModelConfig AsParsed(ModelConfig config) => config;

    private static readonly Family[] Families =
    [
        new("llama",
            ["LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"],
            ["llama", "mistral", "qwen2"],
            "rope", AsParsed,
            (c, s, b, p, o) => new LlamaModel(c, s, b, p, o)),
        new("mpt", ["MptForCausalLM", "MPTForCausalLM"], ["mpt"], "alibi", MptSettings.ReadConfig, (c, s, b, p, o) => new MptModel(c, s, b, p, o)),
        new("bloom", ["BloomForCausalLM"], ["bloom"], "alibi", BloomConfig.ReadConfig, (c, s, b, p, o) => new BloomModel(c, s, b, p, o)),
        new("gptj", ["GPTJForCausalLM"], ["gptj"], "rope", GptJConfig.ReadConfig, (c, s, b, p, o) => new GptJModel(c, s, b, p, o)),
        new("gpt-neox", ["GPTNeoXForCausalLM"], ["gpt_neox"], "rope", GptNeoXSettings.ReadConfig, (c, s, b, p, o) => new GptNeoXModel(c, s, b, p, o)),
        new("phi", ["PhiForCausalLM"], ["phi"], "rope", PhiSettings.ReadConfig, (c, s, b, p, o) => new PhiModel(c, s, b, p, o)),
        new("mixtral", ["MixtralForCausalLM"], ["mixtral"], "rope", MixtralSettings.ReadConfig, (c, s, b, p, o) => new MixtralModel(c, s, b, p, o)),
    ];

    /// <summary>Architectures this build can run, for messages and `longlm info`.</summary>
    public static IEnumerable<string> SupportedArchitectures => Families.SelectMany(f => f.Architectures);

    /// <summary>
    /// config.json of <paramref name="modelDirectory"/> as its family reads it: the common HF names first
    /// (<see cref="ModelConfig.Load"/>), then the family's own fields and defaults, then the checks.
    /// </summary>
    public static ModelConfig LoadConfig(string modelDirectory) => ReadConfig(ModelConfig.Load(modelDirectory));

    /// <summary>The family's reading of an already parsed config.json (see <see cref="LoadConfig"/>).</summary>
    public static ModelConfig ReadConfig(ModelConfig parsed) => Find(parsed).ReadConfig(parsed).Validated();

    /// <summary>The family name ("llama") for <paramref name="config"/>, or a clear error listing what is supported.</summary>
    public static string FamilyOf(ModelConfig config) => Find(config).Name;

    /// <summary>How the family encodes positions: "rope" (rotary q and k) or "alibi" (biases on the logits).</summary>
    public static string PositionalEncodingOf(ModelConfig config) => Find(config).Positions;

    /// <summary>Builds the model for <paramref name="config"/> with an attention policy.</summary>
    /// <exception cref="SafeTensorsException">With <see cref="ModelOptions.CheckWeights"/>, a weight is NaN or infinite.</exception>
    /// <exception cref="LongLMException">With <see cref="ModelOptions.Quantize"/>, the backend has no quantized kernels.</exception>
    public static ICausalLM Create(ModelConfig config, WeightStore store, IBackend backend, AttentionPolicy policy, ModelOptions? options = null)
    {
        options ??= new ModelOptions();
        var family = Find(config);
        if (family.Positions != "rope") RefuseRotaryOptions(family, options);
        // Before anything is allocated: a bad quantize type, or a backend without quantized kernels, is one clear message.
        LoadQuantization.Check(options, backend);
        if (options.CheckWeights) WeightScan.ThrowIfNonFinite(store);
        return family.Create(config, store, backend, policy, options);
    }

    /// <summary>RoPE scaling and CLEX change nothing in a family without rotary positions: asking for them is an error, not a no-op.</summary>
    private static void RefuseRotaryOptions(Family family, ModelOptions options)
    {
        string? asked = options.RopeScaling is { } rope ? $"--rope-scaling {rope}"
            : options.ClexExtend ? "--clex-extend"
            : options.ClexLogScale is { } log ? $"--clex-log-scale {(log ? "true" : "false")}"
            : null;
        if (asked is not null)
            throw new LongLMException(
                $"{asked} does not apply to {family.Name} models: they encode positions with {(family.Positions == "alibi" ? "ALiBi biases" : family.Positions)}, not rotary embeddings (RoPE scaling and CLEX are for RoPE models)");
    }

    private static Family Find(ModelConfig config)
    {
        foreach (var family in Families)
            if (config.Architectures.Any(a => family.Architectures.Contains(a)))
                return family;
        foreach (var family in Families)
            if (family.ModelTypes.Contains(config.ModelType))
                return family;
        string named = config.Architectures.Length > 0 ? string.Join(", ", config.Architectures) : config.ModelType;
        throw new ConfigException(config.FilePath,
            $"unsupported architecture '{named}' (model_type '{config.ModelType}'); supported: {string.Join(", ", SupportedArchitectures)}");
    }
}
