using BenchmarkDotNet.Attributes;
using LongLM.Kernels;

namespace LongLM.Bench.Ops;

/// <summary>
/// One decode step's attention (one query row) over a KV cache of <see cref="Keys"/> positions, SmolLM-135M's heads
/// (9 query heads, 3 KV heads, head_dim 64): vanilla reads every key; Lambda (LM-Infinite, L = 2048, G = 10) reads
/// the last L local keys plus G far keys; topk adds 5 middle-token entries per head (selected by <see cref="TopKOps"/>).
/// </summary>
public class AttentionOps : OpBenchmark
{
    private const int Heads = 9, KvHeads = 3, HeadDim = 64, Window = 2048, Global = 10, TopK = 5;
    private AttentionBuffers _buffers;
    private AttentionShape _shape;

    /// <summary>Positions before the query (the context depth).</summary>
    [Params(1024, 4096, 16384, 32768)]
    public int Keys { get; set; }

    /// <summary>vanilla, lambda or topk.</summary>
    [Params("vanilla", "lambda", "topk")]
    public string Mode { get; set; } = "vanilla";

    [GlobalSetup]
    public void Setup()
    {
        Open();
        bool windowed = Mode != "vanilla" && Keys > Window;
        int local = windowed ? Window : Keys;
        int far = windowed ? Global : 0;
        int extra = Mode == "topk" && windowed ? TopK : 0;
        var q = Random(Heads * HeadDim, seed: 1);
        _buffers = new AttentionBuffers(q, Random((long)local * KvHeads * HeadDim, 2), Random((long)local * KvHeads * HeadDim, 3), Zeros(Heads * HeadDim))
        {
            FarQuery = far > 0 ? q : null,
            FarKeys = far > 0 ? Random(far * KvHeads * HeadDim, 4) : null,
            FarValues = far > 0 ? Random(far * KvHeads * HeadDim, 5) : null,
            ExtraLogits = extra > 0 ? Random(Heads * extra, 6) : null,
            ExtraValues = extra > 0 ? Random(Heads * extra * HeadDim, 7) : null,
        };
        _shape = new AttentionShape
        {
            QueryCount = 1,
            Heads = Heads,
            KvHeads = KvHeads,
            HeadDim = HeadDim,
            Scale = 1f / MathF.Sqrt(HeadDim),
            FirstQueryPosition = Keys - 1,
            LocalFirstPosition = Keys - local,
            LocalCount = local,
            Window = windowed ? Window : long.MaxValue,
            FarCount = far,
            GlobalLimit = windowed ? Global : long.MaxValue,
            StationaryFrom = Window,
            ExtraCount = extra,
        };
    }

    [Benchmark]
    public void Attention()
    {
        B.Attention(_buffers, _shape);
        Sync(_buffers.Output);
    }
}
