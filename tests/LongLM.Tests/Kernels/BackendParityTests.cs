using LongLM.Kernels;
using LongLM.Kernels.Cpu;
using LongLM.Kernels.Ilgpu;
using LongLM.Kernels.Ops;

namespace LongLM.Tests.Kernels;

/// <summary>
/// Every backend op against its scalar reference (LongLM.Kernels.Ops.*Reference) on seeded random inputs.
/// One abstract suite; each backend is a thin subclass (ILGPU's test layout).
/// </summary>
public abstract class BackendParityTests : IDisposable
{
    private readonly IBackend _backend;

    protected BackendParityTests(IBackend backend) => _backend = backend;

    public void Dispose()
    {
        _backend.Dispose();
        GC.SuppressFinalize(this);
    }

    private DeviceBuffer Upload(float[] values) => _backend.UploadNew(values);

    private float[] Download(DeviceBuffer buffer, long count)
    {
        var result = new float[count];
        _backend.Download(buffer, result);
        return result;
    }

    [BackendTheory]
    [InlineData(DType.F32, 1, 67, 131)]
    [InlineData(DType.F32, 5, 64, 96)]
    [InlineData(DType.F16, 1, 67, 131)]
    [InlineData(DType.F16, 3, 128, 40)]
    [InlineData(DType.BF16, 1, 67, 131)]
    [InlineData(DType.BF16, 1, 576, 200)]
    [InlineData(DType.BF16, 4, 96, 33)]
    [InlineData(DType.F16, 2, 67, 70)]    // rows > 1 with a column count that is not a multiple of 4
    [InlineData(DType.F32, 40, 48, 130)]  // more than one 32-row tile
    public void MatMul_MatchesReference(DType dtype, int rows, int inDim, int outDim)
    {
        var x = Inputs.Random(rows * inDim, 1);
        using var w = new NativeWeight(Inputs.Random(outDim * inDim, 2), outDim, inDim, dtype);
        using var bias = new NativeWeight(Inputs.Random(outDim, 3), 1, outDim, DType.F32);
        var expected = new float[rows * outDim];
        MatMul.Reference(x, rows, w.View, bias.View.ToFloat32(), expected);

        using var dx = Upload(x);
        using var dy = _backend.Allocate(rows * outDim);
        using var dw = _backend.LoadWeight(w.View);
        using var db = _backend.LoadWeight(bias.View);
        _backend.MatMul(dx, dw, db, dy, rows);
        Tolerance.AssertClose(expected, Download(dy, rows * outDim), 1e-4f, 1e-4f, $"matmul {dtype}");
    }

    /// <summary>
    /// The fused projections, MatMul3 (q, k, v) and GatedMatMul (silu(gate) * up), against the separate MatMul and
    /// SiluMul calls they stand for: bit for bit (the cpu backend fuses one-row calls with the same per-output dots and
    /// quantizes the activation once instead of per projection), and, for float weights, against MatMul.Reference and
    /// Elementwise.SiluMulReference in double (the expected values).
    /// </summary>
    [BackendTheory]
    [InlineData(DType.F32, 1)]
    [InlineData(DType.BF16, 1)]
    [InlineData(DType.F16, 1)]
    [InlineData(DType.Q8_0, 1)]
    [InlineData(DType.Q4_0, 1)]
    [InlineData(DType.BF16, 3)]  // more rows: every backend runs the separate ops
    public void FusedProjections_EqualTheSeparateOps(DType dtype, int rows)
    {
        const int inDim = 96, qDim = 96, kvDim = 32, ffn = 200;
        var x = Inputs.Random(rows * inDim, 31);
        IDisposable Make(int outDim, int seed, out WeightView view)
        {
            var values = Inputs.Random(outDim * inDim, seed);
            if (dtype.IsQuantized())
            {
                var q = new QuantizedWeight(values, outDim, inDim, dtype);
                view = q.View;
                return q;
            }
            var n = new NativeWeight(values, outDim, inDim, dtype);
            view = n.View;
            return n;
        }
        using var hq = Make(qDim, 32, out var vq);
        using var hk = Make(kvDim, 33, out var vk);
        using var hv = Make(kvDim, 34, out var vv);
        using var hg = Make(ffn, 35, out var vg);
        using var hu = Make(ffn, 36, out var vu);
        using var bq = new NativeWeight(Inputs.Random(qDim, 37), 1, qDim, DType.F32);
        using var bv = new NativeWeight(Inputs.Random(kvDim, 38), 1, kvDim, DType.F32);
        using var dx = Upload(x);
        using var wq = _backend.LoadWeight(vq);
        using var wk = _backend.LoadWeight(vk);
        using var wv = _backend.LoadWeight(vv);
        using var wg = _backend.LoadWeight(vg);
        using var wu = _backend.LoadWeight(vu);
        using var dbq = _backend.LoadWeight(bq.View);
        using var dbv = _backend.LoadWeight(bv.View);

        float[] Separate(DeviceWeight w, DeviceWeight? b, int outDim)
        {
            using var y = _backend.Allocate(rows * outDim);
            _backend.MatMul(dx, w, b, y, rows);
            return Download(y, rows * outDim);
        }
        float[] q = Separate(wq, dbq, qDim), k = Separate(wk, null, kvDim), v = Separate(wv, dbv, kvDim);
        float[] g = Separate(wg, null, ffn), u = Separate(wu, null, ffn), gated = new float[rows * ffn];
        {
            using var dg = Upload(g);
            using var du = Upload(u);
            _backend.SiluMul(dg, du, dg, rows * ffn);
            gated = Download(dg, rows * ffn);
        }

        using var fq = _backend.Allocate(rows * qDim);
        using var fk = _backend.Allocate(rows * kvDim);
        using var fv = _backend.Allocate(rows * kvDim);
        _backend.MatMul3(dx, new Projection(wq, dbq, fq), new Projection(wk, null, fk), new Projection(wv, dbv, fv), rows);
        using var fg = _backend.Allocate(rows * ffn);
        using var fu = _backend.Allocate(rows * ffn);
        _backend.GatedMatMul(dx, new Projection(wg, null, fg), new Projection(wu, null, fu), rows);

        Assert.Equal(q, Download(fq, rows * qDim));
        Assert.Equal(k, Download(fk, rows * kvDim));
        Assert.Equal(v, Download(fv, rows * kvDim));
        Assert.Equal(gated, Download(fg, rows * ffn));
        if (dtype.IsQuantized()) return; // the activation's q8_0 rounding: the quantized matmul tests bound it

        var expectedQ = new float[rows * qDim];
        MatMul.Reference(x, rows, vq, bq.View.ToFloat32(), expectedQ);
        Tolerance.AssertClose(expectedQ, Download(fq, rows * qDim), 1e-4f, 1e-4f, "fused q");
        float[] expectedG = new float[rows * ffn], expectedU = new float[rows * ffn], expectedGated = new float[rows * ffn];
        MatMul.Reference(x, rows, vg, [], expectedG);
        MatMul.Reference(x, rows, vu, [], expectedU);
        Elementwise.SiluMulReference(expectedG, expectedU, expectedGated);
        Tolerance.AssertClose(expectedGated, Download(fg, rows * ffn), 1e-4f, 1e-4f, "fused silu(gate) * up");
    }

    [BackendFact]
    public void Embedding_GathersRowsWidened()
    {
        using var table = new NativeWeight(Inputs.Random(10 * 6, 4), 10, 6, DType.BF16);
        int[] ids = [3, 0, 9, 3];
        var all = table.View.ToFloat32();
        using var dt = _backend.LoadWeight(table.View);
        using var dst = _backend.Allocate(ids.Length * 6);
        _backend.Embedding(dt, ids, dst);
        var got = Download(dst, ids.Length * 6);
        for (int r = 0; r < ids.Length; r++)
            Assert.Equal(all.AsSpan(ids[r] * 6, 6).ToArray(), got.AsSpan(r * 6, 6).ToArray());
    }

    [BackendFact]
    public void Embedding_IdOutsideVocabulary_Throws()
    {
        using var table = new NativeWeight(Inputs.Random(10 * 6, 4), 10, 6, DType.F32);
        using var dt = _backend.LoadWeight(table.View);
        using var dst = _backend.Allocate(6);
        Assert.ThrowsAny<ArgumentException>(() => _backend.Embedding(dt, [10], dst));
    }

    [BackendTheory]
    [InlineData(1, 64, false)]
    [InlineData(3, 100, false)]
    [InlineData(2, 48, true)]
    public void RmsNorm_MatchesReference(int rows, int dim, bool unitOffset)
    {
        var x = Inputs.Random(rows * dim, 5, 3f);
        using var w = new NativeWeight(Inputs.Random(dim, 6), 1, dim, DType.F32);
        var expected = new float[rows * dim];
        for (int r = 0; r < rows; r++)
            RmsNorm.RowReference(x.AsSpan(r * dim, dim), w.View.ToFloat32(), expected.AsSpan(r * dim, dim), 1e-5f, unitOffset);
        using var dx = Upload(x);
        using var dw = _backend.LoadWeight(w.View);
        using var dy = _backend.Allocate(rows * dim);
        _backend.RmsNorm(dx, dw, dy, rows, dim, 1e-5f, unitOffset);
        Tolerance.AssertClose(expected, Download(dy, rows * dim), 1e-5f, 1e-5f, "rmsnorm");
    }

    [BackendTheory]
    [InlineData(1, 64, true)]
    [InlineData(3, 100, false)]
    public void LayerNorm_MatchesReference(int rows, int dim, bool withBias)
    {
        var x = Inputs.Random(rows * dim, 22, 3f);
        for (int i = 0; i < x.Length; i++) x[i] += 1.5f; // a non-zero mean to remove
        using var w = new NativeWeight(Inputs.Random(dim, 23), 1, dim, DType.F32);
        using var bias = new NativeWeight(Inputs.Random(dim, 24), 1, dim, DType.BF16);
        var expected = new float[rows * dim];
        for (int r = 0; r < rows; r++)
            LayerNorm.RowReference(x.AsSpan(r * dim, dim), w.View.ToFloat32(), withBias ? bias.View.ToFloat32() : [], expected.AsSpan(r * dim, dim), 1e-5f);
        using var dx = Upload(x);
        using var dw = _backend.LoadWeight(w.View);
        using var db = _backend.LoadWeight(bias.View);
        using var dy = _backend.Allocate(rows * dim);
        _backend.LayerNorm(dx, dw, withBias ? db : null, dy, rows, dim, 1e-5f);
        Tolerance.AssertClose(expected, Download(dy, rows * dim), 1e-5f, 1e-5f, "layernorm");
    }

    [BackendTheory]
    [InlineData(GeluApproximation.None)]
    [InlineData(GeluApproximation.Tanh)]
    public void Gelu_MatchesReference(GeluApproximation approximation)
    {
        var x = Inputs.Random(2000, 25, 8f);
        var expected = x.Select(v => (float)Gelu.Reference(v, approximation)).ToArray();
        using var dx = Upload(x);
        _backend.Gelu(dx, dx, x.Length, approximation);
        Tolerance.AssertClose(expected, Download(dx, x.Length), 1e-6f, 1e-5f, $"gelu {approximation}");
    }

    [BackendTheory]
    [InlineData(RopePairing.HalfSplit, 16, 16)]
    [InlineData(RopePairing.HalfSplit, 16, 8)]
    [InlineData(RopePairing.Interleaved, 16, 16)]
    [InlineData(RopePairing.Interleaved, 32, 8)]
    public void Rope_MatchesReference(RopePairing pairing, int headDim, int rotaryDim)
    {
        const int rows = 3, heads = 2;
        long[] positions = [0, 7, 1_000_000_123];
        var inverse = Enumerable.Range(0, rotaryDim / 2).Select(k => 1.0 / Math.Pow(10000, 2.0 * k / rotaryDim)).ToArray();
        var x = Inputs.Random(rows * heads * headDim, 7);
        var expected = x.ToArray();
        var cosSin = new float[rows * rotaryDim];
        for (int r = 0; r < rows; r++)
        {
            Rope.CosSin(positions[r], inverse, cosSin.AsSpan(r * rotaryDim, rotaryDim));
            for (int h = 0; h < heads; h++)
                Rope.HeadReference(expected.AsSpan((r * heads + h) * headDim, headDim), inverse, positions[r], rotaryDim, pairing);
        }
        using var dx = Upload(x);
        using var dcs = Upload(cosSin);
        _backend.Rope(dx, dcs, rows, heads, headDim, rotaryDim, pairing);
        Tolerance.AssertClose(expected, Download(dx, x.Length), 1e-5f, 1e-5f, "rope");
    }

    public static TheoryData<string, AttentionShape> AttentionCases() => new()
    {
        { "first token", Shape(1, 0, 4, 4, 8) },
        { "more keys than one 32-key batch", Shape(2, 70, 4, 2, 64) },
        { "the largest head dim", Shape(1, 40, 2, 1, 256) },
        { "decode over a cache, GQA 2:1", Shape(1, 9, 8, 4, 8) },
        { "prefill, GQA 3:1", Shape(5, 0, 6, 2, 16) },
        { "chunk after a cache, MQA", Shape(4, 3, 4, 1, 8) },
        { "window of 4", Shape(6, 7, 4, 2, 8) with { Window = 4, LocalFirstPosition = 4, LocalCount = 9 } },
        { "lambda: G=2 far keys at the ceiling", Shape(6, 7, 4, 2, 8) with { Window = 4, LocalFirstPosition = 4, LocalCount = 9, FarCount = 2, GlobalLimit = 2, StationaryFrom = 4 } },
        { "ceiling-only with D > L: zero band", Shape(3, 9, 2, 1, 8) with { Window = 3, FarCount = 12, StationaryFrom = 6 } },
        { "top-k extras on the last row", Shape(3, 20, 4, 2, 8) with { Window = 4, LocalFirstPosition = 19, LocalCount = 4, FarCount = 2, GlobalLimit = 2, StationaryFrom = 4, ExtraCount = 3 } },
        { "ALiBi, vanilla", Shape(3, 6, 4, 2, 8) with { } },
        { "ALiBi, lambda clipped at D", Shape(3, 9, 4, 4, 8) with { Window = 4, LocalFirstPosition = 6, LocalCount = 6, FarCount = 2, GlobalLimit = 2, StationaryFrom = 4, AlibiDistanceCap = 4 } },
        { "large logits (no overflow)", Shape(2, 5, 2, 2, 8) with { Scale = 40f } },
        { "stream offset 1e9", Shape(2, 3, 2, 2, 8) with { FirstQueryPosition = 1_000_000_003, LocalFirstPosition = 1_000_000_000, Window = 3, FarCount = 1, FarFirstPosition = 1_000_000_000, GlobalLimit = 1_000_000_001, StationaryFrom = 3 } },
        // Prefill over several 16-row tiles and 32-key tiles (the tiled kernel's geometry; a short last row tile).
        { "prefill 40 rows, vanilla, hd 64", Shape(40, 0, 2, 1, 64) },
        { "prefill 48 rows after a cache, hd 128, GQA 2:1", Shape(48, 30, 4, 2, 128) },
        { "prefill 45 rows, window 20, hd 8", Shape(45, 10, 4, 2, 8) with { Window = 20 } },
        { "prefill 40 rows, lambda: G=4 far keys, hd 64", Shape(40, 30, 2, 1, 64) with { Window = 16, LocalFirstPosition = 15, LocalCount = 55, FarCount = 4, GlobalLimit = 4, StationaryFrom = 16 } },
        { "prefill 40 rows, ceiling-only: 72 far keys, zero band", Shape(40, 40, 4, 2, 8) with { Window = 8, LocalFirstPosition = 33, LocalCount = 47, FarCount = 72, StationaryFrom = 12 } },
        { "prefill 33 rows, top-k: 35 extras on the last row", Shape(33, 20, 4, 2, 8) with { Window = 8, LocalFirstPosition = 13, LocalCount = 40, FarCount = 2, GlobalLimit = 2, StationaryFrom = 8, ExtraCount = 35 } },
        // The cpu backend's row tiles (Ops.Attention.Tile, 64 rows): several tiles, a short last one, head dims that are
        // not multiples of 4 or 8, fewer keys than one vector, and top-k extras landing in the last tile.
        { "prefill 150 rows over three row tiles, window 50, lambda far keys, hd 12", Shape(150, 60, 4, 2, 12) with { Window = 50, LocalFirstPosition = 11, LocalCount = 199, FarCount = 5, GlobalLimit = 5, StationaryFrom = 50 } },
        { "prefill 130 rows, vanilla, hd 6, MQA", Shape(130, 0, 3, 1, 6) },
        { "prefill 70 rows, window 5, hd 8", Shape(70, 0, 2, 2, 8) with { Window = 5 } },
        { "prefill 129 rows, top-k extras in the last row tile, hd 16", Shape(129, 20, 4, 2, 16) with { Window = 40, LocalFirstPosition = 0, LocalCount = 149, FarCount = 3, GlobalLimit = 3, StationaryFrom = 40, ExtraCount = 4 } },
        // head_dim 8 without ALiBi or extras: the cpu backend's row-lane kernel (Ops.Attention.Lanes, 4/8/16 rows per
        // block): stories260K's Lambda stream after a cache, a short last block, a window of one key (each row sees
        // only itself), and far keys some rows of a block see and others do not.
        { "prefill 100 rows after a cache, lambda: L=32 G=4 far keys, hd 8, GQA 2:1", Shape(100, 300, 8, 4, 8) with { Window = 32, LocalFirstPosition = 269, LocalCount = 131, FarCount = 4, GlobalLimit = 4, StationaryFrom = 32 } },
        { "prefill 37 rows, window 1, hd 8", Shape(37, 5, 2, 1, 8) with { Window = 1, LocalFirstPosition = 5, LocalCount = 37 } },
        { "prefill 21 rows from position 3, lambda: far keys appear mid-block, hd 8", Shape(21, 3, 2, 2, 8) with { Window = 8, LocalFirstPosition = 0, LocalCount = 24, FarCount = 6, GlobalLimit = 6, StationaryFrom = 8 } },
        { "ALiBi, prefill 40 rows, vanilla, hd 128", Shape(40, 0, 2, 2, 128) },
        { "ALiBi, prefill 40 rows, lambda clipped at D", Shape(40, 20, 4, 2, 64) with { Window = 10, LocalFirstPosition = 11, LocalCount = 49, FarCount = 3, GlobalLimit = 3, StationaryFrom = 10, AlibiDistanceCap = 10 } },
        // Decode at depth (one query row, thousands of keys): the cpu backend's grouped one-query kernel
        // (Ops.Attention.Group), every head of a KV group over one read of its keys; SmolLM-135M's 9:3 heads, MHA, Lambda, top-k.
        { "decode at depth 5000, GQA 3:1, hd 64", Shape(1, 4999, 9, 3, 64) },
        { "decode at depth 5000, MHA 1:1, hd 64", Shape(1, 4999, 4, 4, 64) },
        { "decode at depth 5000, lambda: window 2048, G=4, GQA 3:1", Shape(1, 4999, 6, 2, 64) with { Window = 2048, LocalFirstPosition = 2952, LocalCount = 2048, FarCount = 4, GlobalLimit = 4, StationaryFrom = 2048 } },
        { "decode at depth 5000, lambda with top-k extras, GQA 3:1", Shape(1, 4999, 6, 2, 64) with { Window = 2048, LocalFirstPosition = 2952, LocalCount = 2048, FarCount = 4, GlobalLimit = 4, StationaryFrom = 2048, ExtraCount = 5 } },
        { "ALiBi, decode at depth 5000, GQA 2:1", Shape(1, 4999, 4, 2, 64) },
        { "ALiBi, decode at depth 3000, lambda clipped at D, GQA 2:1", Shape(1, 2999, 4, 2, 32) with { Window = 1024, LocalFirstPosition = 1976, LocalCount = 1024, FarCount = 3, GlobalLimit = 3, StationaryFrom = 1024, AlibiDistanceCap = 1024 } },
        // The cpu backend splits a decode row into parts of 256 keys (Ops.Attention.GroupPart + MergeParts): one key
        // past a part, and a Lambda row whose far keys land in the first part and top-k extras in the last.
        { "decode over 257 keys: a one-key last part, GQA 3:1", Shape(1, 256, 9, 3, 64) },
        { "decode, lambda: window 600 in three parts with far keys and extras, hd 48", Shape(1, 999, 6, 2, 48) with { Window = 600, LocalFirstPosition = 400, LocalCount = 600, FarCount = 4, GlobalLimit = 4, StationaryFrom = 600, ExtraCount = 3 } },
    };

    private static AttentionShape Shape(int queries, int firstPosition, int heads, int kvHeads, int headDim) => new()
    {
        QueryCount = queries, Heads = heads, KvHeads = kvHeads, HeadDim = headDim, Scale = 1f / MathF.Sqrt(headDim),
        FirstQueryPosition = firstPosition, LocalFirstPosition = 0, LocalCount = firstPosition + queries,
    };

    [BackendTheory]
    [MemberData(nameof(AttentionCases))]
    public void Attention_MatchesReference(string name, AttentionShape shape) => AssertAttentionMatchesReference(_backend, name, shape);

    /// <summary>Runs one <see cref="AttentionCases"/> case on <paramref name="backend"/> against Ops.Attention.Reference.</summary>
    internal static void AssertAttentionMatchesReference(IBackend backend, string name, AttentionShape shape)
    {
        DeviceBuffer Upload(float[] values) => backend.UploadNew(values);

        bool alibi = name.StartsWith("ALiBi", StringComparison.Ordinal);
        var inputs = AttentionInputs.Random(shape, alibi, [8, 14, 9, 10, 15, 16, 17, 18]);
        var expected = new float[shape.QueryCount * shape.Heads * shape.HeadDim];
        LongLM.Kernels.Ops.Attention.Reference(inputs.Spans(expected), shape);

        using var dq = Upload(inputs.Query);
        using var dk = Upload(inputs.Keys);
        using var dv = Upload(inputs.Values);
        using var dfq = Upload(inputs.FarQuery);
        using var dfk = Upload(inputs.FarKeys);
        using var dfv = Upload(inputs.FarValues);
        using var del = Upload(inputs.ExtraLogits);
        using var dev = Upload(inputs.ExtraValues);
        using var dslopes = Upload(alibi ? inputs.Slopes : [0f]);
        using var output = backend.Allocate(expected.Length);
        backend.Attention(new AttentionBuffers(dq, dk, dv, output)
        {
            FarQuery = dfq, FarKeys = dfk, FarValues = dfv, ExtraLogits = del, ExtraValues = dev, AlibiSlopes = alibi ? dslopes : null,
        }, shape);
        var got = new float[expected.Length];
        backend.Download(output, got);
        Tolerance.AssertClose(expected, got, 1e-5f, 1e-4f, name);
    }

    [BackendFact]
    public void SelectTopK_MatchesReferenceSelection()
    {
        var shape = new TopKShape(Heads: 4, KvHeads: 2, HeadDim: 8, Scale: 0.35f, Begin: 3, End: 40, K: 5);
        var q = Inputs.Random(4 * 8, 19);
        var keys = Inputs.Random(45 * 2 * 8, 20);
        var values = Inputs.Random(45 * 2 * 8, 21);
        using var dq = Upload(q);
        using var dk = Upload(keys);
        using var dv = Upload(values);
        using var logits = _backend.Allocate(4 * 5);
        using var selected = _backend.Allocate(4 * 5 * 8);
        _backend.SelectTopK(dq, dk, dv, shape, logits, selected);
        var gotValues = Download(selected, 4 * 5 * 8);
        var gotLogits = Download(logits, 4 * 5);
        for (int h = 0; h < 4; h++)
        {
            int[] slots = TopK.SelectReference(q, keys, shape, h);
            for (int e = 0; e < 5; e++)
            {
                Assert.Equal(values.AsSpan((slots[e] * 2 + h / 2) * 8, 8).ToArray(), gotValues.AsSpan((h * 5 + e) * 8, 8).ToArray());
                double dot = 0;
                for (int c = 0; c < 8; c++) dot += (double)q[h * 8 + c] * keys[(slots[e] * 2 + h / 2) * 8 + c];
                Assert.Equal(dot * 0.35, gotLogits[h * 5 + e], 1e-5);
            }
        }
    }

    [BackendFact]
    public void SiluMulAndAdd_MatchReference()
    {
        var a = Inputs.Random(1000, 11, 6f);
        var b = Inputs.Random(1000, 12, 2f);
        var silu = new float[1000];
        var sum = new float[1000];
        Elementwise.SiluMulReference(a, b, silu);
        Elementwise.AddReference(a, b, sum);
        using var da = Upload(a);
        using var db = Upload(b);
        using var dst = _backend.Allocate(1000);
        _backend.SiluMul(da, db, dst, 1000);
        Tolerance.AssertClose(silu, Download(dst, 1000), 1e-6f, 1e-5f, "silu*up");
        _backend.Add(da, db, dst, 1000);
        Tolerance.AssertClose(sum, Download(dst, 1000), 0f, 0f, "add");
        // In place, as the model uses them (dst aliases the first input).
        _backend.SiluMul(da, db, da, 1000);
        Tolerance.AssertClose(silu, Download(da, 1000), 1e-6f, 1e-5f, "silu*up in place");
        _backend.Upload(a, da);
        _backend.Add(da, db, da, 1000);
        Tolerance.AssertClose(sum, Download(da, 1000), 0f, 0f, "add in place");
    }

    [BackendFact]
    public void LogSoftmax_MatchesReference()
    {
        const int rows = 3, cols = 517;
        var x = Inputs.Random(rows * cols, 13, 20f);
        var expected = new float[rows * cols];
        for (int r = 0; r < rows; r++) LogSoftmax.RowReference(x.AsSpan(r * cols, cols), expected.AsSpan(r * cols, cols));
        using var dx = Upload(x);
        using var dy = _backend.Allocate(rows * cols);
        _backend.LogSoftmax(dx, dy, rows, cols);
        Tolerance.AssertClose(expected, Download(dy, rows * cols), 1e-5f, 1e-5f, "log-softmax");
    }
}

/// <summary>The managed SIMD backend.</summary>
public sealed class CpuBackendParityTests() : BackendParityTests(new CpuBackend());

/// <summary>The ILGPU kernels on ILGPU's CPU accelerator (what CI runs of the CUDA kernel code).</summary>
public sealed class IlgpuCpuBackendParityTests() : BackendParityTests(IlgpuBackend.CreateCpu());

/// <summary>The ILGPU kernels on the first NVIDIA GPU; skipped unless LONGLM_TEST_CUDA=1.</summary>
[OptInBackend("LONGLM_TEST_CUDA")]
public sealed class CudaBackendParityTests() : BackendParityTests(IlgpuBackend.CreateCuda());
