using LongLM.Kernels.Ops;

namespace LongLM.Kernels.Cpu;

/// <summary>
/// The CPU backend's ops as reusable range jobs (see <see cref="CpuParallel"/>): the fields are one call's
/// arguments, set by the backend just before the call, and Run(start, end) is the op's own loop over a chunk.
/// </summary>
internal static class CpuJobs
{
    // One scratch array per thread, grown as needed: a thread runs one chunk at a time, and unlike ArrayPool
    // (whose per-thread slots drain when chunks rent on one thread and return on another) it never allocates again.
    [ThreadStatic] private static float[]? t_scratch;

    private static float[] Scratch(int length) =>
        t_scratch is { } s && s.Length >= length ? s : t_scratch = new float[Math.Max(length, 2 * (t_scratch?.Length ?? 0))];

    public sealed class RmsNorm : RangeJob
    {
        public override void Clear()
        {
            Src = Dst = Weight = [];
        }

        public float[] Src = [], Dst = [], Weight = [];
        public int Dim;
        public float Eps;
        public bool UnitOffset;

        public override void Run(int start, int end)
        {
            for (int r = start; r < end; r++)
                Ops.RmsNorm.Row(Src.AsSpan(r * Dim, Dim), Weight, Dst.AsSpan(r * Dim, Dim), Eps, UnitOffset);
        }
    }

    public sealed class LayerNorm : RangeJob
    {
        public override void Clear()
        {
            Src = Dst = Weight = Bias = [];
        }

        public float[] Src = [], Dst = [], Weight = [], Bias = [];
        public int Dim;
        public float Eps;

        public override void Run(int start, int end)
        {
            for (int r = start; r < end; r++)
                Ops.LayerNorm.Row(Src.AsSpan(r * Dim, Dim), Weight, Bias, Dst.AsSpan(r * Dim, Dim), Eps);
        }
    }

    public sealed class Gelu : RangeJob
    {
        public override void Clear()
        {
            Src = Dst = [];
        }

        public float[] Src = [], Dst = [];
        public GeluApproximation Approximation;

        public override void Run(int start, int end) =>
            Ops.Gelu.Apply(Src.AsSpan(start, end - start), Dst.AsSpan(start, end - start), Approximation);
    }

    /// <summary>Items: elements of silu(A) * B or A + B (each element alone, so any split gives the same bits).</summary>
    public sealed class Elementwise : RangeJob
    {
        /// <summary>Elements per chunk before a thread is worth waking: a few microseconds of work.</summary>
        public const int Grain = 8192;

        public override void Clear()
        {
            A = B = Dst = [];
        }

        public float[] A = [], B = [], Dst = [];
        public bool Silu;

        public override void Run(int start, int end)
        {
            int n = end - start;
            if (Silu) Ops.Elementwise.SiluMul(A.AsSpan(start, n), B.AsSpan(start, n), Dst.AsSpan(start, n));
            else Ops.Elementwise.Add(A.AsSpan(start, n), B.AsSpan(start, n), Dst.AsSpan(start, n));
        }
    }

    public sealed class MatMul : RangeJob
    {
        public override void Clear()
        {
            Src = Dst = [];
            Bias = null;
            View = default;
        }

        public float[] Src = [], Dst = [];
        public float[]? Bias;
        public WeightView View;
        public int Rows;

        /// <summary>
        /// Prefill: items are (output block, row block) pairs of <see cref="MatMulTiled"/>, output-block-major so that a
        /// chunk's blocks share weights in cache; 0 row blocks: items are output features of the dot path.
        /// </summary>
        public int RowBlocks, BlockRows;

        /// <summary>Items for <see cref="CpuParallel.Run"/>: blocks when tiled, else output features.</summary>
        public int Items(int rows)
        {
            // Quantized weights take the int8 dot path for prefill too (each activation row is quantized once per range).
            if (!Ops.MatMul.UsesTiles(rows) || View.DType.IsQuantized())
            {
                RowBlocks = 0;
                return View.Rows;
            }
            BlockRows = MatMulTiled.BlockRows(View.Cols);
            RowBlocks = (rows + BlockRows - 1) / BlockRows;
            return RowBlocks * ((View.Rows + MatMulTiled.BlockCols - 1) / MatMulTiled.BlockCols);
        }

        /// <summary>
        /// Quantized weights: the activation rows quantized once for the whole op (<see cref="Ops.MatMul.PrepareQuantized"/>),
        /// owned by this per-thread job and grown as needed, so every chunk reads them instead of quantizing its own copy.
        /// </summary>
        public float[] Prepared = [];

        public override void Run(int start, int end)
        {
            if (View.DType.IsQuantized())
            {
                Ops.MatMul.QuantizedRange(Prepared, Rows, View, Bias, Dst, start, end);
                return;
            }
            if (RowBlocks == 0)
            {
                // F16/BF16 rows are widened into scratch.
                Ops.MatMul.Range(Src, Rows, View, Bias, Dst, start, end, View.DType == DType.F32 ? default : Scratch(View.Cols));
                return;
            }
            // Each element's sum order is fixed by MatMulTiled whatever block computes it, so any split is bit-identical.
            Span<float> panel = Scratch(MatMulTiled.PanelLength(View));
            for (int item = start; item < end; item++)
            {
                int o = item / RowBlocks * MatMulTiled.BlockCols, r = item % RowBlocks * BlockRows;
                MatMulTiled.Block(Src, View, Bias, Dst, r, Math.Min(Rows, r + BlockRows), o, Math.Min(View.Rows, o + MatMulTiled.BlockCols), panel);
            }
        }
    }

    /// <summary>
    /// Up to three matmuls of one activation row (decode) as one op: items are the outputs of the first, then the
    /// second, then the third projection (MatMul3), or with <see cref="Gated"/> output features i of a gate and an up
    /// projection, each followed by silu(gate_i) * up_i (GatedMatMul). Every output is the dot MatMul's own job
    /// computes (the same Range and QuantizedRange calls), so fusing changes no bit.
    /// </summary>
    public sealed class MatMulSet : RangeJob
    {
        public override void Clear()
        {
            Src = [];
            for (int p = 0; p < 3; p++) (Views[p], Biases[p], Outputs[p]) = (default, null, []);
        }

        public float[] Src = [];
        public readonly WeightView[] Views = new WeightView[3];
        public readonly float[]?[] Biases = new float[]?[3];
        public readonly float[][] Outputs = [[], [], []];
        public int Projections;
        public bool Gated;

        /// <summary>The activation row quantized once for every quantized projection (as <see cref="MatMul.Prepared"/>).</summary>
        public float[] Prepared = [];

        public override void Run(int start, int end)
        {
            if (Gated)
            {
                Project(0, start, end);
                Project(1, start, end);
                Ops.Elementwise.SiluMul(Outputs[0].AsSpan(start, end - start), Outputs[1].AsSpan(start, end - start), Outputs[0].AsSpan(start, end - start));
                return;
            }
            int offset = 0;
            for (int p = 0; p < Projections; p++)
            {
                int rows = Views[p].Rows, from = Math.Max(start, offset), to = Math.Min(end, offset + rows);
                if (from < to) Project(p, from - offset, to - offset);
                offset += rows;
            }
        }

        private void Project(int p, int start, int end)
        {
            var view = Views[p];
            if (view.DType.IsQuantized()) Ops.MatMul.QuantizedRange(Prepared, 1, view, Biases[p], Outputs[p], start, end);
            else Ops.MatMul.Range(Src, 1, view, Biases[p], Outputs[p], start, end, view.DType == DType.F32 ? default : Scratch(view.Cols));
        }
    }

    /// <summary>Items: activation rows, quantized into the matmul job's <see cref="MatMul.Prepared"/> (prefill of a quantized matmul).</summary>
    public sealed class PrepareQuantized : RangeJob
    {
        public override void Clear()
        {
            Src = Prepared = [];
        }

        public float[] Src = [], Prepared = [];
        public int Cols;

        public override void Run(int start, int end) => Ops.MatMul.PrepareQuantized(Src, Cols, Prepared, start, end);
    }

    public sealed class Rope : RangeJob
    {
        public override void Clear()
        {
            Data = Table = [];
        }

        public float[] Data = [], Table = [];
        public int Heads, HeadDim, RotaryDim;
        public RopePairing Pairing;

        public override void Run(int start, int end)
        {
            int half = RotaryDim / 2;
            for (int r = start; r < end; r++)
                Ops.Rope.Row(Data.AsSpan(r * Heads * HeadDim, Heads * HeadDim), Heads, HeadDim, Table.AsSpan(r * half * 2, half * 2), RotaryDim, Pairing);
        }
    }

    public sealed class Attention : RangeJob
    {
        public override void Clear()
        {
            _q = _k = _v = _o = [];
            _fq = _fk = _fv = _el = _ev = _slopes = null;
        }

        private float[] _q = [], _k = [], _v = [], _o = [];
        private float[]? _fq, _fk, _fv, _el, _ev, _slopes;
        private AttentionShape _shape;
        private bool _tiled;
        private int _parts;

        // The split row's partial outputs and (max, sum) statistics (Ops.Attention.GroupPart): the job's own, kept
        // across calls (grown, never shrunk) so that a decode step allocates nothing.
        private float[] _partOutputs = [], _partStats = [];

        /// <summary>Items: (row, KV head) pairs, or with <paramref name="tiled"/> (tile of rows, KV head) pairs for Ops.Attention.Tile.</summary>
        public void Set(float[] q, float[] k, float[] v, float[] o, float[]? fq, float[]? fk, float[]? fv, float[]? el, float[]? ev, float[]? slopes,
            AttentionShape shape, bool tiled)
        {
            (_q, _k, _v, _o, _fq, _fk, _fv, _el, _ev, _slopes, _shape, _tiled, _parts) = (q, k, v, o, fq, fk, fv, el, ev, slopes, shape, tiled, 0);
            UsesLanes = tiled && Ops.Attention.LanesApply(shape, slopes is { Length: > 0 });
        }

        /// <summary>Items are (block of <see cref="Ops.Attention.LanesRows"/> rows, query head) pairs for Ops.Attention.Lanes.</summary>
        public bool UsesLanes { get; private set; }

        /// <summary>
        /// Items become (part, KV head) pairs of the one query row (Ops.Attention.GroupPart), <paramref name="parts"/>
        /// parts; after the call, <see cref="MergeParts"/> writes the output.
        /// </summary>
        public void Split(int parts)
        {
            _parts = parts;
            int outputs = Ops.Attention.PartOutputLength(_shape, parts), stats = Ops.Attention.PartStatsLength(_shape, parts);
            if (_partOutputs.Length < outputs) _partOutputs = new float[Math.Max(outputs, 2 * _partOutputs.Length)];
            if (_partStats.Length < stats) _partStats = new float[Math.Max(stats, 2 * _partStats.Length)];
        }

        /// <summary>Combines the parts of the split call just run (<see cref="Split"/>) into <paramref name="output"/>.</summary>
        public void MergeParts(in AttentionShape shape, int parts, float[] output) =>
            Ops.Attention.MergeParts(shape, parts, _partOutputs, _partStats, output);

        public override void Run(int start, int end)
        {
            var s = _shape;
            var spans = new AttentionSpans(_q, _k, _v, _o, _fq, _fk, _fv, _el, _ev, _slopes);
            if (UsesLanes)
            {
                int n = Ops.Attention.LanesRows;
                float[] lanesScratch = Scratch(Ops.Attention.LanesScratchLength(s, n));
                for (int job = start; job < end; job++)
                    Ops.Attention.Lanes(spans, s, job % s.Heads, job / s.Heads * n, lanesScratch);
                return;
            }
            if (_tiled)
            {
                float[] tileScratch = Scratch(Ops.Attention.TileScratchLength(s));
                for (int job = start; job < end; job++)
                {
                    int rowStart = job / s.KvHeads * Ops.Attention.TileRows;
                    Ops.Attention.Tile(spans, s, job % s.KvHeads, rowStart, Math.Min(s.QueryCount, rowStart + Ops.Attention.TileRows), tileScratch);
                }
                return;
            }
            if (_parts > 0)
            {
                float[] partScratch = Scratch(Ops.Attention.PartScratchLength(s));
                for (int job = start; job < end; job++)
                    Ops.Attention.GroupPart(spans, s, job % s.KvHeads, job / s.KvHeads, _parts, partScratch, _partOutputs, _partStats);
                return;
            }
            // One query row: (row, KV head) items, each reading its keys and values once for all heads of the group.
            float[] scratch = Scratch(Ops.Attention.GroupScratchLength(s));
            for (int job = start; job < end; job++)
                Ops.Attention.Group(spans, s, job / s.KvHeads, job % s.KvHeads, scratch);
        }
    }

    public sealed class SelectTopK : RangeJob
    {
        public override void Clear()
        {
            Query = Keys = Values = Logits = Output = [];
        }

        public float[] Query = [], Keys = [], Values = [], Logits = [], Output = [];
        public TopKShape Shape;

        public override void Run(int start, int end)
        {
            for (int h = start; h < end; h++) TopK.Head(Query, Keys, Values, Shape, h, Logits, Output);
        }
    }

    public sealed class LogSoftmax : RangeJob
    {
        public override void Clear()
        {
            Src = Dst = [];
        }

        public float[] Src = [], Dst = [];
        public int Cols;

        public override void Run(int start, int end)
        {
            for (int r = start; r < end; r++)
                Ops.LogSoftmax.Row(Src.AsSpan(r * Cols, Cols), Dst.AsSpan(r * Cols, Cols));
        }
    }
}
