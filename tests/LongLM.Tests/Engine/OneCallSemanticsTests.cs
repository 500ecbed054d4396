using System.Text.Json.Nodes;
using LongLM.Models;
using LongLM.Models.Fixtures;
using LongLM.Runtime;
using LongLM.Runtime.Attention;
using Xunit.Abstractions;

namespace LongLM.Tests.Engine;

/// <summary>
/// Internal chunking is a memory decision only: <c>LanguageModel.Logits(ids, chunk)</c> is one logical forward call
/// (HF's <c>model(input_ids).logits</c>), so every internal chunk size gives the logits of the whole call. The
/// expected values are the same call run in one pass (chunk = ids.Length): a metamorphic check that needs no golden
/// file. The configurations cover everything whose numbers depend on the call's length (dynamic NTK's base, CLEX's t
/// and log factor, the top-k row) and the controls (vanilla, Lambda, YaRN, llama3) whose numbers do not.
/// Lengths 511, 513, 1025 and 1537 sit either side of stories260K's trained length 512 and its multiples.
/// </summary>
public sealed class OneCallSemanticsTests(ITestOutputHelper output, OneCallSemanticsTests.Models models) : IClassFixture<OneCallSemanticsTests.Models>
{
    /// <summary>The model folders, written once for the class.</summary>
    public sealed class Models : IDisposable
    {
        private readonly TempDirectory _dir = new();
        private static string Stories => Path.Combine(SharedData.Root, "models", "stories260K");

        public Models()
        {
            Dynamic = WithScaling("dynamic", new JsonObject { ["type"] = "dynamic", ["factor"] = 4.0 });
            Yarn = WithScaling("yarn", new JsonObject { ["rope_type"] = "yarn", ["factor"] = 4.0, ["original_max_position_embeddings"] = 512 });
            Llama3 = WithScaling("llama3", new JsonObject
            {
                ["rope_type"] = "llama3", ["factor"] = 8.0, ["low_freq_factor"] = 1.0, ["high_freq_factor"] = 4.0, ["original_max_position_embeddings"] = 128,
            });
            Clex = _dir.File("clex");
            FixtureWriter.WriteClex(Stories, 3, Clex);
            var text = File.ReadAllText(Path.Combine(SharedData.Root, "corpus", "tinystories-sample.txt"));
            using var lm = LanguageModel.Load(Stories);
            var tokens = lm.Tokenizer.Encode(text);
            Ids = Enumerable.Range(0, 1537).Select(i => tokens[i % tokens.Length]).ToArray();
        }

        public string Dynamic { get; }
        public string Yarn { get; }
        public string Llama3 { get; }
        public string Clex { get; }
        public int[] Ids { get; }

        public (string Dir, ModelOptions Options) Configuration(string name) => name switch
        {
            "vanilla" => (Stories, new ModelOptions()),
            "lambda" => (Stories, new ModelOptions { Attention = new LambdaAttentionOptions() }),
            "lambda+top-k" => (Stories, new ModelOptions { Attention = new LambdaAttentionOptions { TopK = 5 } }),
            "dynamic" => (Dynamic, new ModelOptions()),
            "yarn" => (Yarn, new ModelOptions()),
            "llama3" => (Llama3, new ModelOptions()),
            "clex" => (Clex, new ModelOptions { ClexLogScale = false }),
            "clex+log-scale" => (Clex, new ModelOptions { ClexLogScale = true }),
            _ => throw new ArgumentOutOfRangeException(nameof(name)),
        };

        private string WithScaling(string name, JsonObject scaling)
        {
            string dir = _dir.File(name);
            Directory.CreateDirectory(dir);
            foreach (var f in new[] { "model.safetensors", "tokenizer.model" }) File.Copy(Path.Combine(Stories, f), Path.Combine(dir, f));
            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(Stories, "config.json")))!.AsObject();
            config["rope_scaling"] = scaling;
            File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
            return dir;
        }

        public void Dispose() => _dir.Dispose();
    }

    private readonly Models _models = models;

    public static TheoryData<string, int> Cases()
    {
        var data = new TheoryData<string, int>();
        foreach (var name in new[] { "vanilla", "lambda", "lambda+top-k", "dynamic", "yarn", "llama3", "clex", "clex+log-scale" })
            foreach (int length in new[] { 511, 513, 1025, 1537 })
                data.Add(name, length);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Logits_AnyInternalChunk_EqualsTheWholeCall(string configuration, int length)
    {
        var (dir, options) = _models.Configuration(configuration);
        using var lm = LanguageModel.Load(dir, "cpu", options);
        var ids = _models.Ids.AsSpan(0, length);
        float[] whole = lm.Logits(ids, chunk: length);
        foreach (int chunk in new[] { 1, 7, 100, 512 })
        {
            float[] chunked = lm.Logits(ids, chunk);
            double diff = 0;
            for (int i = 0; i < whole.Length; i++) diff = Math.Max(diff, Math.Abs(whole[i] - chunked[i]));
            output.WriteLine($"{configuration} S={length} chunk={chunk}: max |diff| = {diff:G3}");
            Assert.True(diff <= 1e-4, $"{configuration}, {length} tokens, internal chunk {chunk}: logits differ from the whole call by {diff:G3}");
        }
    }
}
