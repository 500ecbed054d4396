using System.Text.Json;
using LongLM.Kernels;

namespace LongLM.Models.Fixtures;

/// <summary>
/// The seeded values and files every fixture writer shares: SplitMix64(seed) drawn in the order the tensors are
/// written, Uniform(-a, a) for projections and embeddings and 1 + Uniform(-0.1, 0.1) for norm weights, so a
/// (family, shape, dtype, seed) names one exact model that the NumPy references read back.
/// </summary>
internal sealed class FixtureValues(ulong seed)
{
    private readonly SplitMix64 _random = new(seed);

    /// <summary>Fills a tensor with Uniform(-scale, scale).</summary>
    public Action<Span<float>> Uniform(float scale) => span =>
    {
        for (int i = 0; i < span.Length; i++) span[i] = _random.NextSigned() * scale;
    };

    /// <summary>Fills a norm weight with 1 + Uniform(-0.1, 0.1), near one so that it matters.</summary>
    public void NearOne(Span<float> span)
    {
        for (int i = 0; i < span.Length; i++) span[i] = 1f + _random.NextSigned() * 0.1f;
    }

    /// <summary>config.json's torch_dtype for a stored dtype.</summary>
    public static string TorchDtype(DType dtype) => dtype switch { DType.F32 => "float32", DType.F16 => "float16", _ => "bfloat16" };

    /// <summary>Writes config.json, indented.</summary>
    public static void WriteConfig(string directory, Dictionary<string, object?> config) =>
        File.WriteAllText(Path.Combine(directory, "config.json"), JsonSerializer.Serialize(config, new JsonSerializerOptions { WriteIndented = true }));
}
