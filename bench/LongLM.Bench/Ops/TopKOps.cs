using BenchmarkDotNet.Attributes;
using LongLM.Kernels;

namespace LongLM.Bench.Ops;

/// <summary>
/// LM-Infinite's top-k middle-token selection for one query (k = 5, SmolLM-135M's heads) over the middle slots of a
/// <see cref="Keys"/>-position stream: the far store holds every position; the middle is [G, Keys - L).
/// </summary>
public class TopKOps : OpBenchmark
{
    private const int Heads = 9, KvHeads = 3, HeadDim = 64, Window = 2048, Global = 10, K = 5;
    private DeviceBuffer _query = null!, _keys = null!, _values = null!, _logits = null!, _output = null!;
    private TopKShape _shape;

    /// <summary>Positions in the stream.</summary>
    [Params(4096, 16384, 32768)]
    public int Keys { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Open();
        _query = Random(Heads * HeadDim, 1);
        _keys = Random((long)Keys * KvHeads * HeadDim, 2);
        _values = Random((long)Keys * KvHeads * HeadDim, 3);
        _logits = Zeros(Heads * K);
        _output = Zeros(Heads * K * HeadDim);
        _shape = new TopKShape(Heads, KvHeads, HeadDim, 1f / MathF.Sqrt(HeadDim), Global, Keys - Window, K);
    }

    [Benchmark]
    public void SelectTopK()
    {
        B.SelectTopK(_query, _keys, _values, _shape, _logits, _output);
        Sync(_output);
    }
}
