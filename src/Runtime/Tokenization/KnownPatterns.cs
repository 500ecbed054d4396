using System.Text.RegularExpressions;

namespace LongLM.Runtime.Tokenization;

/// <summary>
/// The pre-tokenizer patterns of the tokenizers in wide use, compiled at build time by .NET's regex source generator.
/// A pattern compiled at run time (<see cref="RegexOptions.Compiled"/>) costs about 25 ms of Reflection.Emit and JIT in
/// every process that loads a model, before its first token; these cost nothing at start and match as fast. Any other
/// pattern from a tokenizer.json is still compiled at run time (<see cref="PreTokenizerPipeline.CreateRegex"/>). The
/// options and the timeout are the run-time ones, so a pattern matches the same either way (KnownPatternsTests).
/// </summary>
internal static partial class KnownPatterns
{
    /// <summary>GPT-2's, which ByteLevel applies when use_regex is true (GPT-2, GPT-NeoX, SmolLM, Phi).</summary>
    public const string Gpt2 = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>Llama 3's Split pattern: digits in groups of up to three.</summary>
    public const string Llama3 = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Qwen2's Split pattern: Llama 3's with single digits.</summary>
    public const string Qwen2 = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private const int TimeoutMilliseconds = 1000; // PreTokenizerPipeline.MatchTimeout

    [GeneratedRegex(Gpt2, RegexOptions.CultureInvariant, TimeoutMilliseconds)]
    public static partial Regex Gpt2Regex();

    [GeneratedRegex(Llama3, RegexOptions.CultureInvariant, TimeoutMilliseconds)]
    private static partial Regex Llama3Regex();

    [GeneratedRegex(Qwen2, RegexOptions.CultureInvariant, TimeoutMilliseconds)]
    private static partial Regex Qwen2Regex();

    /// <summary>The build-time regex for <paramref name="pattern"/>, or null when it is not one of the known patterns.</summary>
    public static Regex? Find(string pattern) => pattern switch
    {
        Gpt2 => Gpt2Regex(),
        Llama3 => Llama3Regex(),
        Qwen2 => Qwen2Regex(),
        _ => null,
    };
}
