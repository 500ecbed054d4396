using System.Text.Json;

namespace LongLM.Models.Fixtures;

/// <summary>
/// A synthetic HF tokenizer.json (byte-level BPE, GPT-2 byte alphabet) of any vocabulary size >= 258: the 256
/// byte symbols, then merges of symbol pairs in a fixed order, then one special end-of-text token (the last id).
/// It is a real, loadable tokenizer, so fixtures run end to end through the same code as downloaded models.
/// </summary>
public static class ByteLevelBpeFixture
{
    /// <summary>The special token, id vocab-1.</summary>
    public const string EndOfText = "<|endoftext|>";

    /// <summary>Writes tokenizer.json and tokenizer_config.json for <paramref name="vocabSize"/> ids into <paramref name="directory"/>.</summary>
    public static void Write(string directory, int vocabSize)
    {
        if (vocabSize < 258) throw new ArgumentOutOfRangeException(nameof(vocabSize), "needs room for 256 bytes, one merge and one special token");
        string[] symbols = ByteSymbols();
        var vocab = new Dictionary<string, int>();
        for (int b = 0; b < 256; b++) vocab[symbols[b]] = b;
        // Merge order: frequent English bytes first, so real text gets multi-byte tokens.
        var alphabet = " etaoinshrdlucmfwypvbgkqjxzETAOINSHRDLUCMFWYPVBGKQJXZ.,'\n0123456789".Select(c => symbols[c])
            .Concat(symbols).Distinct().ToArray();
        var merges = new List<string[]>();
        int mergeCount = vocabSize - 257;
        foreach (var left in alphabet)
        {
            foreach (var right in alphabet)
            {
                if (merges.Count == mergeCount) break;
                string merged = left + right;
                if (vocab.ContainsKey(merged)) continue;
                vocab[merged] = vocab.Count;
                merges.Add([left, right]);
            }
            if (merges.Count == mergeCount) break;
        }
        int eos = vocab.Count;
        var tokenizer = new
        {
            version = "1.0",
            added_tokens = new[] { new { id = eos, content = EndOfText, single_word = false, lstrip = false, rstrip = false, normalized = false, special = true } },
            normalizer = (object?)null,
            pre_tokenizer = new { type = "ByteLevel", add_prefix_space = false, trim_offsets = true, use_regex = true },
            post_processor = (object?)null,
            decoder = new { type = "ByteLevel", add_prefix_space = true, trim_offsets = true, use_regex = true },
            model = new { type = "BPE", dropout = (object?)null, unk_token = (object?)null, vocab, merges },
        };
        File.WriteAllText(Path.Combine(directory, "tokenizer.json"), JsonSerializer.Serialize(tokenizer));
        var config = new { add_bos_token = false, bos_token = EndOfText, eos_token = EndOfText, tokenizer_class = "PreTrainedTokenizerFast" };
        File.WriteAllText(Path.Combine(directory, "tokenizer_config.json"), JsonSerializer.Serialize(config));
    }

    /// <summary>GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onwards.</summary>
    private static string[] ByteSymbols()
    {
        var symbols = new string[256];
        int next = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            symbols[b] = printable ? ((char)b).ToString() : ((char)(256 + next++)).ToString();
        }
        return symbols;
    }

    /// <summary>The id of the special end-of-text token for a vocabulary of <paramref name="vocabSize"/>.</summary>
    public static int EndOfTextId(int vocabSize) => vocabSize - 1;
}
