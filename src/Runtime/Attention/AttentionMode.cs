namespace LongLM.Runtime.Attention;

/// <summary>How attention treats a context longer than the trained length (LM-Infinite, algorithms.md section 2).</summary>
public enum AttentionMode
{
    /// <summary>Plain causal attention over every token (the model's own behaviour).</summary>
    Vanilla,
    /// <summary>LM-Infinite: Lambda mask (G starting tokens + a window of L) and the distance ceiling D.</summary>
    Lambda,
    /// <summary>Ablation: the Lambda mask, starting tokens at their true rotary distance.</summary>
    LambdaNoCeiling,
    /// <summary>Ablation: every token visible, distances of L and more clamped to D (no Lambda mask; memory grows).</summary>
    CeilingOnly,
    /// <summary>Sliding window: the last L tokens, no starting tokens (also Mistral's sliding_window).</summary>
    Window,
    /// <summary>Baseline: drop all but the last L input tokens before each forward (positions restart at 0).</summary>
    Truncate,
}

/// <summary>Command-line spellings of <see cref="AttentionMode"/>.</summary>
public static class AttentionModes
{
    /// <summary>Names as the CLI spells them.</summary>
    public static IReadOnlyList<string> Names { get; } = ["vanilla", "lambda", "lambda-no-ceiling", "ceiling-only", "window", "truncate"];

    /// <summary>Parses a CLI name.</summary>
    public static AttentionMode Parse(string name) => name switch
    {
        "vanilla" => AttentionMode.Vanilla,
        "lambda" => AttentionMode.Lambda,
        "lambda-no-ceiling" => AttentionMode.LambdaNoCeiling,
        "ceiling-only" => AttentionMode.CeilingOnly,
        "window" => AttentionMode.Window,
        "truncate" => AttentionMode.Truncate,
        _ => throw new LongLMException($"unknown attention mode '{name}' (available: {string.Join(", ", Names)})"),
    };

    /// <summary>The CLI name.</summary>
    public static string Name(this AttentionMode mode) => Names[(int)mode];
}
