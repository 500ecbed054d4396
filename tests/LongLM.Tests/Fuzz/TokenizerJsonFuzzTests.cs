using System.Text;
using System.Text.Json.Nodes;
using LongLM.Models.Fixtures;
using LongLM.Runtime;
using LongLM.Runtime.Tokenization;

namespace LongLM.Tests.Fuzz;

/// <summary>
/// Seeded random mutations of a valid byte-level BPE tokenizer.json (the fixture tokenizer, given every section
/// LongLM reads: an NFC normaliser, a Split + ByteLevel pre-tokenizer with Llama 3's pattern, a template
/// post-processor and added tokens with each matching rule): every load, and every encode and decode of a few texts
/// with what loaded, must succeed or throw a <see cref="LongLMException"/>; never another exception type, a hang
/// (5 s per iteration) or more than 200 MB allocated. One iteration in four mutates the tokenizer_config.json beside it.
/// </summary>
public sealed class TokenizerJsonFuzzTests : IDisposable
{
    private const string Llama3Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private static readonly string[] Texts = ["Hello, world! 123", "aaaaaaaaab", "  \n\t x", "日本語 über", "<|endoftext|> a<pad>b ", ""];

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>The fixture tokenizer (299 ids + &lt;|endoftext|&gt;) with every optional section filled in.</summary>
    private JsonObject ValidTokenizer()
    {
        ByteLevelBpeFixture.Write(_dir.Path, 300);
        var json = JsonNode.Parse(File.ReadAllText(_dir.File("tokenizer.json")))!.AsObject();
        json["normalizer"] = JsonNode.Parse("""{"type": "Sequence", "normalizers": [{"type": "NFC"}]}""");
        json["pre_tokenizer"] = new JsonObject
        {
            ["type"] = "Sequence",
            ["pretokenizers"] = new JsonArray(
                new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = Llama3Pattern }, ["behavior"] = "Isolated", ["invert"] = false },
                JsonNode.Parse("""{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}""")),
        };
        json["post_processor"] = JsonNode.Parse("""
            {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
             "special_tokens": {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [299], "tokens": ["<|endoftext|>"]}}}
            """);
        json["added_tokens"]!.AsArray().Add(JsonNode.Parse("""
            {"id": 300, "content": "<pad>", "single_word": true, "lstrip": true, "rstrip": true, "normalized": true, "special": false}
            """));
        return json;
    }

    /// <summary>Every (parent, key or index) slot under <paramref name="node"/>, with whether it lies in the bulk vocab/merges.</summary>
    private static void Slots(JsonNode node, bool bulk, List<(JsonNode Parent, object Key, bool Bulk)> slots)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, child) in obj.ToList())
                {
                    bool inBulk = bulk || key is "vocab" or "merges";
                    slots.Add((obj, key, inBulk));
                    if (child is not null) Slots(child, inBulk, slots);
                }
                break;
            case JsonArray array:
                for (int i = 0; i < array.Count; i++)
                {
                    slots.Add((array, i, bulk));
                    if (array[i] is { } child) Slots(child, bulk, slots);
                }
                break;
        }
    }

    /// <summary>1 to 3 edits of a copy of <paramref name="valid"/>; one time in eight, byte damage on top.</summary>
    private static byte[] Mutate(JsonObject valid, Random random, JsonMutator mutator)
    {
        var json = valid.DeepClone().AsObject();
        var raw = new List<string>();
        int edits = 1 + random.Next(3);
        for (int e = 0; e < edits; e++)
        {
            var slots = new List<(JsonNode Parent, object Key, bool Bulk)>();
            Slots(json, false, slots);
            // Half the edits go to the small sections; the vocabulary and merges would take nearly all otherwise.
            var pool = random.Next(2) == 0 ? slots.Where(s => !s.Bulk).ToList() : slots;
            var (parent, key, _) = pool[random.Next(pool.Count)];
            switch (random.Next(4))
            {
                case 0 or 1:
                    // Replace with a raw token, spliced in after serialisation.
                    JsonNode placeholder = JsonValue.Create($"@@RAW{raw.Count}@@");
                    raw.Add(mutator.Token());
                    if (parent is JsonObject o) o[(string)key] = placeholder;
                    else ((JsonArray)parent)[(int)key] = placeholder;
                    break;
                case 2:
                    if (parent is JsonObject po) po.Remove((string)key);
                    else ((JsonArray)parent).RemoveAt((int)key);
                    break;
                default:
                    // Duplicate an array element (a second added token, merge or pre-tokenizer with the same content).
                    if (parent is JsonArray pa) pa.Insert((int)key, pa[(int)key]?.DeepClone());
                    break;
            }
        }
        string text = json.ToJsonString();
        for (int i = 0; i < raw.Count; i++) text = text.Replace($"\"@@RAW{i}@@\"", raw[i]);
        return random.Next(8) == 0 ? mutator.DamageBytes(text) : Encoding.UTF8.GetBytes(text);
    }

    [Theory]
    [InlineData(20240612)]
    [InlineData(11)]
    public async Task Load_RandomlyMutatedTokenizerJson_SucceedsOrThrowsLongLMException(int seed)
    {
        var valid = ValidTokenizer();
        var validConfig = JsonNode.Parse(File.ReadAllText(_dir.File("tokenizer_config.json")))!.AsObject();
        var random = new Random(seed);
        var mutator = new JsonMutator(random);
        var (failures, loaded) = await FuzzLoop.RunAsync(300, iteration =>
        {
            // One time in four the tokenizer_config.json beside it (BOS/EOS, add_bos_token) is the mutated file.
            bool config = random.Next(4) == 0;
            byte[] bytes = Mutate(config ? validConfig : valid, random, mutator);
            File.WriteAllBytes(_dir.File(config ? "tokenizer_config.json" : "tokenizer.json"), bytes);
            File.WriteAllText(_dir.File(config ? "tokenizer.json" : "tokenizer_config.json"), (config ? valid : validConfig).ToJsonString());
            string shown = Encoding.UTF8.GetString(bytes);
            return shown.Length > 600 ? shown[..300] + " ... " + shown[^300..] : shown;
        }, step =>
        {
            var tokenizer = ModelTokenizer.Load(_dir.Path);
            foreach (string text in Texts)
            {
                step($"encode \"{text}\"");
                int[] ids = tokenizer.Encode(text);
                step($"decode [{string.Join(",", ids)}]");
                _ = tokenizer.Decode(ids);
            }
        });
        Assert.True(failures.Count == 0, $"seed {seed}: {failures.Count} failures:\n" + string.Join("\n", failures.Take(20)));
        Assert.True(loaded > 0, "no mutated tokenizer.json loaded");
    }
}
