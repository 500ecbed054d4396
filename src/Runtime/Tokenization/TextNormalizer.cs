using System.Text;

namespace LongLM.Runtime.Tokenization;

/// <summary>
/// A tokenizer.json "normalizer": a sequence of Unicode normalisation forms and lowercasing.
/// </summary>
/// <remarks>
/// LongLM builds with InvariantGlobalization, where .NET's <see cref="string.Normalize(NormalizationForm)"/>
/// has no Unicode data and returns its input. Text already in the target form (nearly all text: keyboards
/// and the web produce NFC) is unaffected; decomposed input may tokenize differently from Hugging Face.
/// </remarks>
internal sealed class TextNormalizer
{
    /// <summary>The normaliser that changes nothing (tokenizer.json "normalizer": null).</summary>
    public static readonly TextNormalizer Identity = new([]);

    private readonly IReadOnlyList<Func<string, string>> _steps;

    public TextNormalizer(IReadOnlyList<Func<string, string>> steps)
    {
        _steps = steps;
    }

    public bool IsIdentity => _steps.Count == 0;

    public string Normalize(string text)
    {
        foreach (var step in _steps)
        {
            text = step(text);
        }

        return text;
    }

    /// <summary>The step for one HF normaliser type, or null when LongLM does not implement it.</summary>
    public static Func<string, string>? Step(string type) => type switch
    {
        "NFC" => static s => s.Normalize(NormalizationForm.FormC),
        "NFD" => static s => s.Normalize(NormalizationForm.FormD),
        "NFKC" => static s => s.Normalize(NormalizationForm.FormKC),
        "NFKD" => static s => s.Normalize(NormalizationForm.FormKD),
        "Lowercase" => static s => s.ToLowerInvariant(),
        _ => null,
    };
}
