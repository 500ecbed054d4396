using System.Text.Json;
using System.Text.RegularExpressions;

namespace LongLM.Runtime.Tokenization;

/// <summary>Reads the "normalizer", "pre_tokenizer" and "post_processor" sections of a tokenizer.json.</summary>
internal static class TokenizerJsonPipeline
{
    /// <summary>The normaliser, or null with <paramref name="unsupported"/> set when a step is not implemented.</summary>
    public static TextNormalizer? ReadNormalizer(JsonElement root, out string? unsupported)
    {
        unsupported = null;
        if (!root.TryGetProperty("normalizer", out var normalizer) || normalizer.ValueKind == JsonValueKind.Null)
        {
            return TextNormalizer.Identity;
        }

        var steps = new List<Func<string, string>>();
        AddNormalizer(normalizer, steps, ref unsupported);
        return unsupported is null ? new TextNormalizer(steps) : null;
    }

    /// <summary>The pre-tokenizer, or null with <paramref name="unsupported"/> set when a step is not implemented.</summary>
    public static PreTokenizerPipeline? ReadPreTokenizer(JsonElement root, ref string? unsupported)
    {
        var steps = new List<PreTokenizerPipeline.Step>();
        if (root.TryGetProperty("pre_tokenizer", out var preTokenizer) && preTokenizer.ValueKind != JsonValueKind.Null)
        {
            AddPreTokenizer(preTokenizer, steps, ref unsupported);
        }

        return unsupported is null ? PreTokenizerPipeline.Create(steps) : null;
    }

    /// <summary>The TemplateProcessing post-processor (alone or inside a Sequence), or null when there is none.</summary>
    public static PostProcessorTemplate? ReadTemplate(JsonElement root)
    {
        if (!root.TryGetProperty("post_processor", out var processor) || processor.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var template = FindTemplate(processor);
        if (template is not { } found || !found.TryGetProperty("single", out var single))
        {
            return null;
        }

        string? leading = LeadingSpecialToken(single);
        int? leadingId = null;
        if (leading is not null
            && found.TryGetProperty("special_tokens", out var specials) && specials.ValueKind == JsonValueKind.Object
            && specials.TryGetProperty(leading, out var special)
            && special.TryGetProperty("ids", out var ids) && ids.ValueKind == JsonValueKind.Array && ids.GetArrayLength() > 0)
        {
            leadingId = ids[0].GetInt32();
        }

        return new PostProcessorTemplate(leading, leadingId);
    }

    private static void AddNormalizer(JsonElement normalizer, List<Func<string, string>> steps, ref string? unsupported)
    {
        string type = normalizer.GetProperty("type").GetString() ?? "";
        if (type == "Sequence")
        {
            foreach (var inner in normalizer.GetProperty("normalizers").EnumerateArray())
            {
                AddNormalizer(inner, steps, ref unsupported);
            }

            return;
        }

        var step = TextNormalizer.Step(type);
        if (step is null)
        {
            unsupported ??= $"normalizer \"{type}\" (LongLM implements NFC, NFD, NFKC, NFKD, Lowercase and Sequence).";
            return;
        }

        steps.Add(step);
    }

    private static void AddPreTokenizer(JsonElement preTokenizer, List<PreTokenizerPipeline.Step> steps, ref string? unsupported)
    {
        string type = preTokenizer.GetProperty("type").GetString() ?? "";
        switch (type)
        {
            case "Sequence":
                foreach (var inner in preTokenizer.GetProperty("pretokenizers").EnumerateArray())
                {
                    AddPreTokenizer(inner, steps, ref unsupported);
                }

                break;
            case "ByteLevel":
                // HF's serde defaults: add_prefix_space true, use_regex true.
                steps.Add(new PreTokenizerPipeline.ByteLevelStep(
                    TokenizerJson.OptionalBool(preTokenizer, "add_prefix_space") ?? true,
                    TokenizerJson.OptionalBool(preTokenizer, "use_regex") ?? true));
                break;
            case "Split":
                var split = ReadSplit(preTokenizer, ref unsupported);
                if (split is not null)
                {
                    steps.Add(split);
                }

                break;
            default:
                unsupported ??= $"pre-tokenizer \"{type}\" (LongLM implements Split, ByteLevel and Sequence).";
                break;
        }
    }

    private static PreTokenizerPipeline.SplitStep? ReadSplit(JsonElement split, ref string? unsupported)
    {
        string behavior = TokenizerJson.OptionalString(split, "behavior") ?? "";
        bool invert = TokenizerJson.OptionalBool(split, "invert") ?? false;
        if (behavior != "Isolated" || invert)
        {
            unsupported ??= $"Split pre-tokenizer with behavior \"{behavior}\" and invert {invert} (LongLM implements Isolated, invert false).";
            return null;
        }

        var pattern = split.GetProperty("pattern");
        string regex = TokenizerJson.OptionalString(pattern, "Regex")
            ?? Regex.Escape(TokenizerJson.OptionalString(pattern, "String")
                ?? throw new InvalidOperationException("Split.pattern has neither \"Regex\" nor \"String\""));
        try
        {
            return new PreTokenizerPipeline.SplitStep(PreTokenizerPipeline.CreateRegex(regex));
        }
        catch (ArgumentException e)
        {
            unsupported ??= $"Split pattern \"{regex}\" is not a .NET regular expression ({e.Message}).";
            return null;
        }
    }

    private static JsonElement? FindTemplate(JsonElement processor)
    {
        string? type = TokenizerJson.OptionalString(processor, "type");
        if (type == "TemplateProcessing")
        {
            return processor;
        }

        if (type == "Sequence" && processor.TryGetProperty("processors", out var processors) && processors.ValueKind == JsonValueKind.Array)
        {
            foreach (var inner in processors.EnumerateArray())
            {
                if (FindTemplate(inner) is { } found)
                {
                    return found;
                }
            }
        }

        return null;
    }

    /// <summary>
    /// The special token that opens a single-sequence template, in either serialised form:
    /// [{"SpecialToken": {"id": "&lt;s&gt;"}}, {"Sequence": {"id": "A"}}] or "&lt;s&gt; $A".
    /// </summary>
    private static string? LeadingSpecialToken(JsonElement single)
    {
        if (single.ValueKind == JsonValueKind.Array && single.GetArrayLength() > 0)
        {
            var first = single[0];
            return first.TryGetProperty("SpecialToken", out var special) ? special.GetProperty("id").GetString() : null;
        }

        if (single.ValueKind == JsonValueKind.String)
        {
            string[] words = (single.GetString() ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (words.Length == 0 || words[0].StartsWith('$'))
            {
                return null;
            }

            // "[CLS]:0" carries a type id after the last colon.
            string word = words[0];
            int colon = word.LastIndexOf(':');
            return colon > 0 && colon < word.Length - 1 && word[(colon + 1)..].All(char.IsAsciiDigit) ? word[..colon] : word;
        }

        return null;
    }
}
