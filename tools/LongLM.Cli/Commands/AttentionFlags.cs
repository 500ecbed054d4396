using System.CommandLine;
using LongLM.Runtime;
using LongLM.Runtime.Attention;

namespace LongLM.Cli.Commands;

/// <summary>
/// LM-Infinite flags shared by generate, logits and ppl. The top-k of middle tokens is --top-k-middle (generate's
/// --top-k is the sampling filter, as in llama.cpp); ppl and logits also accept --top-k for it.
/// </summary>
public sealed class AttentionFlags
{
    private readonly Option<bool> _lmInfinite = new("--lm-infinite") { Description = "LM-Infinite: Lambda mask + distance ceiling with the defaults (G=10, L=D=trained length)" };
    private readonly Option<string?> _attention = new("--attention") { Description = $"Attention mode: {string.Join(", ", AttentionModes.Names)}" };
    private readonly Option<int?> _global = new("--global-tokens") { Description = "G: starting tokens (default 10)" };
    private readonly Option<int?> _local = new("--local-window") { Description = "L: local window (default: the trained length from config.json)" };
    private readonly Option<int?> _distance = new("--distance-limit") { Description = "D: distance ceiling (default L)" };
    private readonly Option<int?> _topK;
    private readonly Option<int?> _topKFrom = new("--top-k-from-layer") { Description = "First 0-based layer with top-k middle tokens (default 4)" };
    private readonly Option<int?> _topKAt = new("--top-k-insert-at") { Description = "Distance given to top-k middle tokens (default L/2)" };
    private readonly Option<string?> _ropeScaling = new("--rope-scaling") { Description = "Override config.json's rope_scaling: linear:F, dynamic:F, yarn:F or none" };
    private readonly Option<bool> _clexExtend = new("--clex-extend") { Description = "CLEX: run past max_position_embeddings x max_factor with the max_factor frequencies" };
    // Every command with these flags loads a model, so the load-time quantization flags travel with them.
    private readonly QuantizeFlags _quantize;
    private readonly Option<bool?> _clexLogScale = new("--clex-log-scale") { Description = "CLEX: force log scaling of the query on (true) or off (false); default: the checkpoint's log_scale" };

    /// <summary>Adds the flags to <paramref name="command"/>; <paramref name="topKAlias"/> also accepts --top-k.</summary>
    public AttentionFlags(Command command, bool topKAlias)
    {
        _topK = topKAlias
            ? new Option<int?>("--top-k-middle", "--top-k") { Description = "LM-Infinite top-k middle tokens per head (default off)" }
            : new Option<int?>("--top-k-middle") { Description = "LM-Infinite top-k middle tokens per head (default off)" };
        foreach (var option in new Option[] { _lmInfinite, _attention, _global, _local, _distance, _topK, _topKFrom, _topKAt, _ropeScaling, _clexExtend, _clexLogScale })
            command.Options.Add(option);
        _quantize = new QuantizeFlags(command);
    }

    /// <summary>The modes named by --attention (comma-separated for ppl), or --lm-infinite's Lambda.</summary>
    public IReadOnlyList<AttentionMode?> Modes(ParseResult parse)
    {
        string? text = parse.GetValue(_attention);
        bool lmInfinite = parse.GetValue(_lmInfinite);
        if (text is not null && lmInfinite) throw new LongLMException("give --lm-infinite or --attention, not both");
        if (text is not null) return text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(m => (AttentionMode?)AttentionModes.Parse(m)).ToArray();
        return [lmInfinite ? AttentionMode.Lambda : null];
    }

    /// <summary>Options for one mode; null means the model's own attention (vanilla, or its sliding_window).</summary>
    public LambdaAttentionOptions? Options(ParseResult parse, AttentionMode? mode)
    {
        bool tuned = parse.GetValue(_global) is not null || parse.GetValue(_local) is not null || parse.GetValue(_distance) is not null
            || parse.GetValue(_topK) is not null || parse.GetValue(_topKFrom) is not null || parse.GetValue(_topKAt) is not null;
        if (mode is null)
        {
            if (tuned) throw new LongLMException("LM-Infinite flags need --lm-infinite or --attention MODE");
            return null;
        }
        var options = new LambdaAttentionOptions
        {
            Mode = mode.Value,
            LocalWindow = parse.GetValue(_local),
            DistanceLimit = parse.GetValue(_distance),
            TopK = mode == AttentionMode.Lambda ? parse.GetValue(_topK) : null,
            TopKInsertAt = parse.GetValue(_topKAt),
        };
        if (parse.GetValue(_global) is int g) options = options with { GlobalTokens = g };
        if (parse.GetValue(_topKFrom) is int from) options = options with { TopKFromLayer = from };
        return options;
    }

    /// <summary>The --rope-scaling values (comma-separated for ppl; null: config.json's).</summary>
    public IReadOnlyList<string?> RopeScalings(ParseResult parse) =>
        parse.GetValue(_ropeScaling) is string text
            ? text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            : new string?[] { null };

    /// <summary>Every run option for one attention mode and RoPE override, with the CLEX switches and --quantize.</summary>
    public ModelOptions ModelOptions(ParseResult parse, AttentionMode? mode, string? ropeScaling) => _quantize.Apply(parse, new()
    {
        Attention = Options(parse, mode),
        RopeScaling = ropeScaling,
        ClexExtend = parse.GetValue(_clexExtend),
        ClexLogScale = parse.GetValue(_clexLogScale),
    });

    /// <summary>The run options of generate and logits (one attention mode).</summary>
    public ModelOptions Single(ParseResult parse)
    {
        var modes = Modes(parse);
        var ropes = RopeScalings(parse);
        if (modes.Count != 1 || ropes.Count != 1) throw new LongLMException("give one --attention mode and one --rope-scaling here");
        return ModelOptions(parse, modes[0], ropes[0]);
    }
}
