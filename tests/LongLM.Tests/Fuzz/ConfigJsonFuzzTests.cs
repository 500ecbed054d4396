using System.Text;
using System.Text.Json;
using LongLM.Models;
using LongLM.Runtime;

namespace LongLM.Tests.Fuzz;

/// <summary>
/// Seeded random mutations of a valid config.json (stories260K's, with its real weights and tokenizer beside it, or an
/// MPT or BLOOM fixture's): every <c>LanguageModel.Load</c> must either
/// succeed, and then run a 3-token forward, or throw a <see cref="LongLMException"/>; never another exception type,
/// a hang (5 s per load) or more than 200 MB allocated by one load.
/// </summary>
public sealed class ConfigJsonFuzzTests : IDisposable
{
    /// <summary>Fields worth adding (HF names the loaders read), each with a value to start from.</summary>
    private static readonly (string Key, string Value)[] Extra =
    [
        ("head_dim", "8"), ("partial_rotary_factor", "0.5"), ("sliding_window", "16"), ("n_embd", "64"), ("d_model", "64"),
        ("n_head", "8"), ("n_layer", "5"), ("seq_length", "512"), ("n_positions", "512"), ("expansion_ratio", "4"),
        ("layer_norm_epsilon", "1e-5"), ("no_bias", "true"), ("logit_scale", "1"), ("ffn_dim", "172"), ("n_inner", "172"),
        ("rope_scaling", """{"type": "linear", "factor": 2}"""), ("rope_scaling", """{"type": "dynamic", "factor": 4}"""),
        ("rope_scaling", """{"type": "yarn", "factor": 4, "original_max_position_embeddings": 512, "beta_fast": 32, "beta_slow": 1}"""),
        ("rope_scaling", """{"rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 128}"""),
        ("rope_scaling", """{"type": "clex", "max_factor": 8, "param_factor": 1, "act": "tanh", "time_dt": 0.01}"""),
        ("rope_scaling", """{"type": "longrope", "factor": 2}"""),
        ("attn_config", """{"alibi": true, "alibi_bias_max": 8}"""), ("architectures", """["MptForCausalLM"]"""),
        ("architectures", """["BloomForCausalLM"]"""), ("model_type", "\"qwen2\""),
    ];

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>The top-level fields of the valid config as (key, raw JSON text) pairs, in file order.</summary>
    private static List<(string Key, string Value)> Fields(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.EnumerateObject().Select(p => (p.Name, p.Value.GetRawText())).ToList();
    }

    private static string Join(List<(string Key, string Value)> fields) =>
        "{" + string.Join(", ", fields.Select(f => JsonSerializer.Serialize(f.Key) + ": " + f.Value)) + "}";

    /// <summary>One mutated config.json: 1 to 3 field edits, or byte damage on top of them one time in eight.</summary>
    private static byte[] Mutate(List<(string Key, string Value)> valid, Random random, JsonMutator mutator)
    {
        var fields = valid.ToList();
        int edits = 1 + random.Next(3);
        for (int e = 0; e < edits; e++)
        {
            switch (random.Next(6))
            {
                case 0 or 1 or 2:
                    int at = random.Next(fields.Count);
                    fields[at] = (fields[at].Key, mutator.Token());
                    break;
                case 3:
                    if (fields.Count > 1) fields.RemoveAt(random.Next(fields.Count));
                    break;
                case 4:
                    var extra = Extra[random.Next(Extra.Length)];
                    fields.RemoveAll(f => f.Key == extra.Key);
                    fields.Add(extra);
                    break;
                default:
                    // A nested value: one number or string of an added object replaced by an edge-case token.
                    var nested = Extra[random.Next(Extra.Length)];
                    string value = System.Text.RegularExpressions.Regex.Replace(nested.Value, @"(?<=: )[^,}\]]+", m => random.Next(2) == 0 ? mutator.Token() : m.Value);
                    fields.RemoveAll(f => f.Key == nested.Key);
                    fields.Add((nested.Key, value));
                    break;
            }
        }
        string text = Join(fields);
        return random.Next(8) == 0 ? mutator.DamageBytes(text) : Encoding.UTF8.GetBytes(text);
    }

    /// <summary>A model folder to mutate: stories260K (Llama, real weights) or a tiny random-weight ALiBi fixture.</summary>
    private string Base(string name)
    {
        if (name == "stories260K") return ModelFolderCopy.Stories(_dir);
        LongLM.Models.Fixtures.FixtureWriter.Write(name, LongLM.Models.Fixtures.FixtureShape.Find(name, "tiny"), LongLM.Kernels.DType.F32, 1, _dir.Path);
        return _dir.Path;
    }

    [Theory]
    [InlineData("stories260K", 20240611)]
    [InlineData("stories260K", 3)]
    [InlineData("mpt", 5)]
    [InlineData("bloom", 9)]
    public async Task Load_RandomlyMutatedConfig_SucceedsOrThrowsLongLMException(string model, int seed)
    {
        string dir = Base(model);
        var valid = Fields(File.ReadAllText(_dir.File("config.json")));
        var random = new Random(seed);
        var mutator = new JsonMutator(random);
        var (failures, loaded) = await FuzzLoop.RunAsync(400, iteration =>
        {
            byte[] bytes = Mutate(valid, random, mutator);
            File.WriteAllBytes(_dir.File("config.json"), bytes);
            return Encoding.UTF8.GetString(bytes);
        }, step =>
        {
            using var lm = LanguageModel.Load(dir);
            // A config that loads must also run: three tokens through the forward.
            step("forward");
            _ = lm.Logits([1, 2, 3]);
        });
        Assert.True(failures.Count == 0, $"{model} seed {seed}: {failures.Count} failures:\n" + string.Join("\n", failures.Take(20)));
        // The mutations must leave some configs loadable, or the fuzz only exercises the JSON parser.
        Assert.True(loaded > 0, "no mutated config loaded");
    }
}
