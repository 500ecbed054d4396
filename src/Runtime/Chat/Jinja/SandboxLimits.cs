namespace LongLM.Runtime.Chat.Jinja;

/// <summary>
/// Bounds of one render. A chat template comes from a model folder, so it is untrusted code: it may loop for ever
/// (<c>range(10**9)</c>, nested loops), recurse through a macro, or build a huge string.
/// </summary>
internal sealed record SandboxLimits
{
    /// <summary>Evaluation steps (one per statement, expression node and loop iteration) per render.</summary>
    public long MaxSteps { get; init; } = 10_000_000;

    /// <summary>Characters of output, and of any one string a template builds.</summary>
    public long MaxOutputChars { get; init; } = 16 * 1024 * 1024;

    /// <summary>Nested macro and caller() calls.</summary>
    public int MaxCallDepth { get; init; } = 100;

    /// <summary>Nesting of expressions and blocks the parser accepts (keeps the tree walk off the stack limit).</summary>
    public int MaxParseDepth { get; init; } = 200;

    public static readonly SandboxLimits Default = new();
}
