using System.Text.RegularExpressions;
using LongLM.Kernels;
using LongLM.Kernels.Cpu;
using LongLM.Kernels.Ops;
using LongLM.Models;
using LongLM.Runtime.Inference;

namespace LongLM.Tests.Models.Mixtral;

/// <summary>
/// The sparse MoE reads only the routed experts: a decode step's MatMuls touch exactly num_experts_per_tok = 2
/// experts' w1, w3 and w2 per layer (and the router), never the other six; a prefill of many tokens touches more.
/// Recorded by a decorator around the CPU backend that notes the weight of every MatMul.
/// </summary>
public sealed partial class MixtralExpertReadsTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void DecodeStep_MatMulsReadOnlyTheTwoChosenExpertsPerLayer()
    {
        using var backend = new CountingBackend(new CpuBackend());
        using var lm = LanguageModel.Load(MixtralFixtures.Write(_dir.Path), backend);
        int vocab = lm.Config.VocabSize;
        using var sequence = lm.Model.CreateSequence();
        int[] prompt = [5, 100, 257, 299, 12, 42, 280, 7, 99, 150, 201, 33, 64, 128, 255, 256];
        var logits = new float[prompt.Length * vocab];
        lm.Model.Forward(prompt, sequence, logits, LogitsRows.All);
        var prefill = Experts(backend.TakeMatMulWeights());
        Assert.All(prefill, layer => Assert.True(layer.Value.Count > 2, $"layer {layer.Key}: 16 tokens routed to only {layer.Value.Count} experts"));

        for (int step = 0; step < 3; step++)
        {
            lm.Model.Forward([17 + step], sequence, logits.AsSpan(0, vocab), LogitsRows.Last);
            var names = backend.TakeMatMulWeights();
            var experts = Experts(names);
            Assert.Equal([0, 1], experts.Keys.Order());
            foreach (var (layer, chosen) in experts)
            {
                Assert.Equal(2, chosen.Count);
                foreach (int e in chosen)
                    foreach (string w in new[] { "w1", "w3", "w2" })
                        Assert.Single(names, $"model.layers.{layer}.block_sparse_moe.experts.{e}.{w}.weight");
                Assert.Single(names, $"model.layers.{layer}.block_sparse_moe.gate.weight");
            }
        }
    }

    /// <summary>layer -> experts whose weights a MatMul read.</summary>
    private static Dictionary<int, HashSet<int>> Experts(IEnumerable<string> names)
    {
        var result = new Dictionary<int, HashSet<int>>();
        foreach (string name in names)
            if (ExpertName().Match(name) is { Success: true } m)
            {
                int layer = int.Parse(m.Groups[1].Value), e = int.Parse(m.Groups[2].Value);
                if (!result.TryGetValue(layer, out var set)) result[layer] = set = [];
                set.Add(e);
            }
        return result;
    }

    [GeneratedRegex(@"^model\.layers\.(\d+)\.block_sparse_moe\.experts\.(\d+)\.w[123]\.weight$")]
    private static partial Regex ExpertName();

    /// <summary>The CPU backend, noting the name of every weight a MatMul reads.</summary>
    private sealed class CountingBackend(IBackend inner) : IBackend
    {
        private readonly List<string> _matMuls = [];

        public List<string> TakeMatMulWeights()
        {
            lock (_matMuls)
            {
                var taken = _matMuls.ToList();
                _matMuls.Clear();
                return taken;
            }
        }

        public string Name => inner.Name;
        public bool SupportsConcurrentCalls => inner.SupportsConcurrentCalls;
        public DeviceBuffer Allocate(long length) => inner.Allocate(length);
        public void Upload(ReadOnlySpan<float> source, DeviceBuffer destination, long offset = 0) => inner.Upload(source, destination, offset);
        public void Download(DeviceBuffer source, Span<float> destination, long offset = 0) => inner.Download(source, destination, offset);
        public void Copy(DeviceBuffer source, long sourceOffset, DeviceBuffer destination, long destinationOffset, long count) =>
            inner.Copy(source, sourceOffset, destination, destinationOffset, count);
        public DeviceWeight LoadWeight(WeightView view) => inner.LoadWeight(view);
        public void Embedding(DeviceWeight table, ReadOnlySpan<int> ids, DeviceBuffer destination) => inner.Embedding(table, ids, destination);
        public void RmsNorm(DeviceBuffer x, DeviceWeight weight, DeviceBuffer destination, int rows, int dim, float eps, bool addUnitOffset = false) =>
            inner.RmsNorm(x, weight, destination, rows, dim, eps, addUnitOffset);
        public void LayerNorm(DeviceBuffer x, DeviceWeight weight, DeviceWeight? bias, DeviceBuffer destination, int rows, int dim, float eps) =>
            inner.LayerNorm(x, weight, bias, destination, rows, dim, eps);
        public void Gelu(DeviceBuffer x, DeviceBuffer destination, long count, GeluApproximation approximation) => inner.Gelu(x, destination, count, approximation);

        public void MatMul(DeviceBuffer x, DeviceWeight weight, DeviceWeight? bias, DeviceBuffer y, int rows)
        {
            lock (_matMuls) _matMuls.Add(weight.Name);
            inner.MatMul(x, weight, bias, y, rows);
        }

        public void Rope(DeviceBuffer x, DeviceBuffer cosSin, int rows, int heads, int headDim, int rotaryDim, RopePairing pairing) =>
            inner.Rope(x, cosSin, rows, heads, headDim, rotaryDim, pairing);
        public void Attention(AttentionBuffers buffers, AttentionShape shape) => inner.Attention(buffers, shape);
        public void SelectTopK(DeviceBuffer query, DeviceBuffer farKeys, DeviceBuffer farValues, TopKShape shape, DeviceBuffer logits, DeviceBuffer values) =>
            inner.SelectTopK(query, farKeys, farValues, shape, logits, values);
        public void GatherRows(DeviceBuffer x, ReadOnlySpan<int> rows, DeviceBuffer destination, int dim) => inner.GatherRows(x, rows, destination, dim);
        public void ScatterAddRows(DeviceBuffer source, ReadOnlySpan<int> rows, ReadOnlySpan<float> scales, DeviceBuffer destination, int dim) =>
            inner.ScatterAddRows(source, rows, scales, destination, dim);
        public void SiluMul(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer destination, long count) => inner.SiluMul(gate, up, destination, count);
        public void Add(DeviceBuffer a, DeviceBuffer b, DeviceBuffer destination, long count) => inner.Add(a, b, destination, count);
        public void LogSoftmax(DeviceBuffer x, DeviceBuffer destination, int rows, int cols) => inner.LogSoftmax(x, destination, rows, cols);
        public void ClexIntegrate(DeviceBuffer z0, DeviceBuffer upProj, DeviceBuffer downProj, DeviceBuffer grid, DeviceBuffer timeTerms,
            DeviceBuffer outputTimes, DeviceBuffer result, ClexShape shape) =>
            inner.ClexIntegrate(z0, upProj, downProj, grid, timeTerms, outputTimes, result, shape);
        public void Dispose() => inner.Dispose();
    }
}
