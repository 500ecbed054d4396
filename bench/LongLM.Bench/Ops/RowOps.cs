using BenchmarkDotNet.Attributes;
using LongLM.Kernels;

namespace LongLM.Bench.Ops;

/// <summary>
/// The row ops of a decoder layer on SmolLM-135M's widths, for 1 row (decode) and 512 rows (prefill): RMSNorm and
/// LayerNorm over 576, RoPE on 9 heads x 64, SwiGLU and the residual add over 1536 / 576, GELU over 1536 and the
/// log-softmax over the 49152-entry vocabulary.
/// </summary>
public class RowOps : OpBenchmark
{
    private const int Dim = 576, Heads = 9, HeadDim = 64, Ffn = 1536, Vocab = 49152;
    private DeviceBuffer _x = null!, _y = null!, _q = null!, _cosSin = null!, _gate = null!, _up = null!, _act = null!, _logits = null!, _logp = null!;
    private DeviceWeight _norm = null!, _bias = null!;

    /// <summary>Rows per call.</summary>
    [Params(1, 512)]
    public int Rows { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Open();
        _x = Random((long)Rows * Dim, 1);
        _y = Zeros((long)Rows * Dim);
        _norm = Weight(1, Dim, DType.F32, 2, 1f);
        _bias = Weight(1, Dim, DType.F32, 3, 0.1f);
        _q = Random((long)Rows * Heads * HeadDim, 4);
        // Real rotations (unit cos/sin pairs, theta 10000): the op runs in place, and a random table would shrink the
        // values towards subnormals over the iterations, timing the FPU's slow path instead of RoPE.
        var inverse = Enumerable.Range(0, HeadDim / 2).Select(k => Math.Pow(10000, -2.0 * k / HeadDim)).ToArray();
        var table = new float[Rows * HeadDim];
        for (int r = 0; r < Rows; r++) Kernels.Ops.Rope.CosSin(1000 + r, inverse, table.AsSpan(r * HeadDim, HeadDim));
        _cosSin = Upload(table);
        _gate = Random((long)Rows * Ffn, 6);
        _up = Random((long)Rows * Ffn, 7);
        _act = Zeros((long)Rows * Ffn);
        _logits = Random((long)Math.Min(Rows, 64) * Vocab, 8, 8f);
        _logp = Zeros((long)Math.Min(Rows, 64) * Vocab);
    }

    [Benchmark]
    public void RmsNorm()
    {
        B.RmsNorm(_x, _norm, _y, Rows, Dim, 1e-5f);
        Sync(_y);
    }

    [Benchmark]
    public void LayerNorm()
    {
        B.LayerNorm(_x, _norm, _bias, _y, Rows, Dim, 1e-5f);
        Sync(_y);
    }

    [Benchmark]
    public void Rope()
    {
        B.Rope(_q, _cosSin, Rows, Heads, HeadDim, HeadDim, RopePairing.HalfSplit);
        Sync(_q);
    }

    [Benchmark]
    public void SiluMul()
    {
        B.SiluMul(_gate, _up, _act, (long)Rows * Ffn);
        Sync(_act);
    }

    [Benchmark]
    public void Gelu()
    {
        B.Gelu(_gate, _act, (long)Rows * Ffn, Kernels.Ops.GeluApproximation.Tanh);
        Sync(_act);
    }

    [Benchmark]
    public void Add()
    {
        B.Add(_x, _y, _y, (long)Rows * Dim);
        Sync(_y);
    }

    /// <summary>At most 64 rows: a prefill keeps the logits of one chunk's last rows, not 512 x 49152 floats.</summary>
    [Benchmark]
    public void LogSoftmax()
    {
        B.LogSoftmax(_logits, _logp, Math.Min(Rows, 64), Vocab);
        Sync(_logp);
    }
}
