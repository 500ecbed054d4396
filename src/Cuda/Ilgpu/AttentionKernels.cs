using ILGPU;

namespace LongLM.Kernels.Ilgpu;

/// <summary>
/// Attention under <see cref="AttentionShape"/>'s rule (local rotary keys in a window, far keys at the distance
/// ceiling, top-k extras, ALiBi biases), and LM-Infinite's top-k selection. One kernel serves vanilla causal,
/// sliding-window, Lambda, its ablations and ALiBi models: the shape's numbers are the variant.
/// </summary>
public static class AttentionKernels
{
    /// <summary>Largest supported head dimension.</summary>
    public const int MaxHeadDim = 256;

    private const int Lanes = 32;
    private const int MaxWarps = GroupReduce.MaxGroupSize / Lanes;

    /// <summary>
    /// v2: one group per (query row, head), grid-stride over those jobs: decode (one row), and prefill with head
    /// dims above <see cref="TiledMaxHeadDim"/> (other prefill takes <see cref="AttendTiled"/>). The row's
    /// keys form one virtual sequence u = [far slots visible to it | local slots in its window | extras]; the
    /// query (and the ceiling query) go to shared memory, the group's warps take interleaved batches of 32 keys,
    /// one key per lane, and keep an online softmax (max, sum) with an output accumulator in shared memory: per
    /// batch the 32 logits go through a double-buffered shared slot (one warp barrier), the accumulator is rescaled
    /// once and lanes over head dims add p_u * v_u (coalesced value rows). A final group barrier merges the warps'
    /// partials. Query head h reads KV head h / (Heads / KvHeads), as HF repeat_kv. Absent buffers are 1-element views.
    /// </summary>
    [KernelEntry(ExplicitlyGrouped = true)]
    public static void Attend(ArrayView<float> q, ArrayView<float> localKeys, ArrayView<float> localValues, ArrayView<float> output,
        ArrayView<float> farQuery, ArrayView<float> farKeys, ArrayView<float> farValues, ArrayView<float> extraLogits, ArrayView<float> extraValues,
        ArrayView<float> alibiSlopes, AttentionShape shape, int hasAlibi)
    {
        var query = SharedMemory.Allocate<float>(MaxHeadDim);
        var stationary = SharedMemory.Allocate<float>(MaxHeadDim);
        var accumulators = SharedMemory.Allocate<float>(MaxWarps * MaxHeadDim); // [warp][dim]
        var logits = SharedMemory.Allocate<float>(MaxWarps * 2 * Lanes);      // [warp][parity][lane]
        var partials = SharedMemory.Allocate<float>(MaxWarps * 2);             // [warp](max, sum)
        int hd = shape.HeadDim, t = Group.IdxX, lane = Warp.LaneIdx, warp = Warp.WarpIdx, warps = Group.DimX / Lanes;
        int headsPerKv = shape.Heads / shape.KvHeads, slotStride = shape.KvHeads * hd;
        int accumulator = warp * MaxHeadDim;
        for (int job = Grid.IdxX; job < shape.QueryCount * shape.Heads; job += Grid.DimX)
        {
            int row = job / shape.Heads, head = job - row * shape.Heads, kvOffset = head / headsPerKv * hd;
            long i = shape.FirstQueryPosition + row;
            // Membership (algorithms.md 2.2), the same arithmetic as Ops.Attention.LocalStart / FarEnd.
            long localStart = shape.Window == long.MaxValue ? shape.LocalFirstPosition : IntrinsicMath.Max(shape.LocalFirstPosition, i - shape.Window + 1);
            int localFrom = (int)(localStart - shape.LocalFirstPosition);
            int localCount = (int)(i - localStart) + 1;
            int farEnd = 0;
            if (shape.FarCount > 0 && shape.Window != long.MaxValue)
            {
                long end = IntrinsicMath.Min(IntrinsicMath.Min(shape.FarCount, shape.GlobalLimit - shape.FarFirstPosition), i - shape.Window + 1 - shape.FarFirstPosition);
                farEnd = (int)IntrinsicMath.Clamp(end, 0, shape.FarCount);
            }
            int extra = row == shape.QueryCount - 1 ? shape.ExtraCount : 0;
            int keyCount = farEnd + localCount + extra;
            float slope = hasAlibi != 0 ? alibiSlopes[head] : 0f;

            long qStart = (long)job * hd; // q, the ceiling query and output are [rows, heads, hd]
            for (int c = t; c < hd; c += Group.DimX)
            {
                query[c] = q[qStart + c];
                stationary[c] = farEnd > 0 ? farQuery[qStart + c] : 0f;
            }
            // Also orders this job's writes to the accumulators and partials after the last job's merge.
            Group.Barrier();
            for (int c = lane; c < hd; c += Lanes) accumulators[accumulator + c] = 0f;
            float max = float.NegativeInfinity, sum = 0f;
            int parity = 0;
            for (int batch = warp * Lanes; batch < keyCount; batch += warps * Lanes)
            {
                int u = batch + lane;
                float logit = float.NegativeInfinity;
                if (u < farEnd)
                {
                    long distance = i - (shape.FarFirstPosition + u);
                    logit = 0f;
                    if (distance >= shape.StationaryFrom)
                    {
                        long kStart = (long)u * slotStride + kvOffset;
                        float dot = 0f;
                        for (int c = 0; c < hd; c++) dot += stationary[c] * farKeys[kStart + c];
                        logit = dot * shape.Scale;
                    }
                    logit -= slope * (shape.AlibiDistanceCap == long.MaxValue ? distance : shape.AlibiDistanceCap); // starting tokens at -m*D
                }
                else if (u < farEnd + localCount)
                {
                    int slot = localFrom + u - farEnd;
                    long kStart = (long)slot * slotStride + kvOffset;
                    float dot = 0f;
                    for (int c = 0; c < hd; c++) dot += query[c] * localKeys[kStart + c];
                    long distance = i - (shape.LocalFirstPosition + slot);
                    logit = dot * shape.Scale - slope * IntrinsicMath.Min(distance, shape.AlibiDistanceCap);
                }
                else if (u < keyCount)
                {
                    logit = extraLogits[head * shape.ExtraCount + (u - farEnd - localCount)];
                }
                int shared = (warp * 2 + parity) * Lanes;
                logits[shared + lane] = logit;
                Warp.Barrier();
                int count = IntrinsicMath.Min(Lanes, keyCount - batch);
                float batchMax = float.NegativeInfinity;
                for (int j = 0; j < count; j++) batchMax = IntrinsicMath.Max(batchMax, logits[shared + j]);
                float newMax = IntrinsicMath.Max(max, batchMax);
                float rescale = DeviceMath.Exp(max - newMax); // 0 while max is still -inf
                sum *= rescale;
                for (int c = lane; c < hd; c += Lanes) accumulators[accumulator + c] *= rescale;
                for (int j = 0; j < count; j++)
                {
                    float p = DeviceMath.Exp(logits[shared + j] - newMax);
                    sum += p;
                    int v = batch + j;
                    if (v < farEnd)
                    {
                        long vStart = (long)v * slotStride + kvOffset;
                        for (int c = lane; c < hd; c += Lanes) accumulators[accumulator + c] += p * farValues[vStart + c];
                    }
                    else if (v < farEnd + localCount)
                    {
                        long vStart = (long)(localFrom + v - farEnd) * slotStride + kvOffset;
                        for (int c = lane; c < hd; c += Lanes) accumulators[accumulator + c] += p * localValues[vStart + c];
                    }
                    else
                    {
                        long vStart = ((long)head * shape.ExtraCount + (v - farEnd - localCount)) * hd;
                        for (int c = lane; c < hd; c += Lanes) accumulators[accumulator + c] += p * extraValues[vStart + c];
                    }
                }
                max = newMax;
                parity ^= 1;
            }
            if (lane == 0)
            {
                partials[2 * warp] = max;
                partials[2 * warp + 1] = sum;
            }
            Group.Barrier();
            float groupMax = float.NegativeInfinity;
            for (int w = 0; w < warps; w++) groupMax = IntrinsicMath.Max(groupMax, partials[2 * w]);
            float total = 0f;
            for (int w = 0; w < warps; w++)
                if (partials[2 * w] > float.NegativeInfinity) total += partials[2 * w + 1] * DeviceMath.Exp(partials[2 * w] - groupMax);
            for (int c = t; c < hd; c += Group.DimX)
            {
                float o = 0f;
                for (int w = 0; w < warps; w++)
                    if (partials[2 * w] > float.NegativeInfinity) o += accumulators[w * MaxHeadDim + c] * DeviceMath.Exp(partials[2 * w] - groupMax);
                output[qStart + c] = o / total;
            }
        }
    }

    /// <summary>Largest head dimension of <see cref="AttendTiled"/>; larger heads take <see cref="Attend"/>.</summary>
    public const int TiledMaxHeadDim = 128;

    /// <summary>Query rows per group of <see cref="AttendTiled"/> (Br): four per warp.</summary>
    public const int TileRows = 16;

    /// <summary>Keys per tile of <see cref="AttendTiled"/> (Bc): one per lane.</summary>
    public const int TileKeys = Lanes;

    /// <summary>Threads of one <see cref="AttendTiled"/> group (four warps).</summary>
    public const int TiledGroupSize = 128;

    private const int RowsPerWarp = TileRows / (TiledGroupSize / Lanes);
    private const int KeyStride = TiledMaxHeadDim + 1; // padded: lane j reads key row j, bank (j + c) % 32
    private const int FarKind = 0, LocalKind = 1, ExtraKind = 2;

    /// <summary>
    /// Prefill attention (QueryCount &gt; 1, HeadDim &lt;= <see cref="TiledMaxHeadDim"/>) under the same rule and
    /// arithmetic as <see cref="Attend"/>, FlashAttention-2 style. v1: one group of <see cref="TiledGroupSize"/>
    /// threads per (tile of <see cref="TileRows"/> query rows, head), grid-stride over those jobs, longest tiles
    /// (the last rows) first. The tile's keys are the union of its rows' keys, walked in tiles of
    /// <see cref="TileKeys"/>: far slots [0, farEnd(last row)) against the ceiling query, then local slots
    /// [localStart(first row), last row] against the query, then (the tile holding the last row) the top-k extras.
    /// Each key tile's K and V rows are loaded into shared memory once, coalesced, and serve all 16 rows (a
    /// per-row kernel reads every key once per row). Warp w owns rows 4w..4w+3: lane j scores key j against the
    /// four rows (queries broadcast from shared memory, K padded against bank conflicts), applies the per-(row,
    /// key) membership and ALiBi bias of <see cref="Attend"/>, and the four rows' online softmax (max, sum) and
    /// output accumulators (lane, lane+32, lane+64, lane+96) stay in registers; probabilities go through shared
    /// memory (two warp barriers per key tile) so every lane adds p * v for its dims. A warp skips key tiles none
    /// of its rows sees (the causal diagonal, the window's far side). Two group barriers per key tile.
    /// Shared memory: Q 8 KiB, K 16.1 KiB, V 16 KiB, scores and probabilities 2 x 2 KiB, row bounds.
    /// Launch with exactly <see cref="TiledGroupSize"/> threads per group.
    /// </summary>
    [KernelEntry(ExplicitlyGrouped = true)]
    public static void AttendTiled(ArrayView<float> q, ArrayView<float> localKeys, ArrayView<float> localValues, ArrayView<float> output,
        ArrayView<float> farQuery, ArrayView<float> farKeys, ArrayView<float> farValues, ArrayView<float> extraLogits, ArrayView<float> extraValues,
        ArrayView<float> alibiSlopes, AttentionShape shape, int hasAlibi)
    {
        var queries = SharedMemory.Allocate<float>(TileRows * TiledMaxHeadDim);     // [row][dim]
        var keys = SharedMemory.Allocate<float>(TileKeys * KeyStride);              // [key][dim], padded
        var values = SharedMemory.Allocate<float>(TileKeys * TiledMaxHeadDim);      // [key][dim]
        var scores = SharedMemory.Allocate<float>(TileRows * TileKeys);             // [row][key]
        var probabilities = SharedMemory.Allocate<float>(TileRows * TileKeys);      // [row][key]
        var bounds = SharedMemory.Allocate<int>(3 * TileRows);                      // [row](local from, local to, far end)
        int hd = shape.HeadDim, t = Group.IdxX, lane = Warp.LaneIdx, warp = Warp.WarpIdx;
        int headsPerKv = shape.Heads / shape.KvHeads, slotStride = shape.KvHeads * hd;
        int rowTiles = (shape.QueryCount + TileRows - 1) / TileRows;
        int warpRow = warp * RowsPerWarp; // the warp's first row in the tile
        for (int job = Grid.IdxX; job < rowTiles * shape.Heads; job += Grid.DimX)
        {
            // The last rows see the most keys: their tiles go first. Neighbouring jobs share a row tile and KV heads.
            int tile = rowTiles - 1 - job / shape.Heads, head = job - job / shape.Heads * shape.Heads, kvOffset = head / headsPerKv * hd;
            int row0 = tile * TileRows, rows = IntrinsicMath.Min(TileRows, shape.QueryCount - row0), lastRow = shape.QueryCount - 1 - row0;
            float slope = hasAlibi != 0 ? alibiSlopes[head] : 0f;
            // The tile's key ranges (membership is monotone in the position: the first row starts the local keys
            // earliest, the last row ends them and sees the most far keys).
            long first = shape.FirstQueryPosition + row0, last = first + rows - 1;
            int localFrom = TiledLocalFrom(shape, first), localTo = (int)(last - shape.LocalFirstPosition), farEnd = TiledFarEnd(shape, last);
            int extraCount = lastRow < rows ? shape.ExtraCount : 0;
            int farTiles = (farEnd + TileKeys - 1) / TileKeys, localTiles = (localTo - localFrom + TileKeys) / TileKeys;
            int steps = farTiles + localTiles + (extraCount + TileKeys - 1) / TileKeys;
            // The same for the warp's rows; a warp without rows (a short last tile) sees nothing.
            int warpRows = IntrinsicMath.Clamp(rows - warpRow, 0, RowsPerWarp);
            long warpFirst = first + warpRow, warpLast = warpFirst + warpRows - 1;
            int warpFrom = TiledLocalFrom(shape, warpFirst), warpTo = warpRows > 0 ? (int)(warpLast - shape.LocalFirstPosition) : -1;
            int warpFarEnd = warpRows > 0 ? TiledFarEnd(shape, warpLast) : 0;
            bool warpHasLast = lastRow >= warpRow && lastRow < warpRow + warpRows;

            float m0 = float.NegativeInfinity, m1 = float.NegativeInfinity, m2 = float.NegativeInfinity, m3 = float.NegativeInfinity;
            float l0 = 0f, l1 = 0f, l2 = 0f, l3 = 0f;
            Float4 o0 = default, o1 = default, o2 = default, o3 = default;
            for (int step = 0; step < steps; step++)
            {
                int kind = step < farTiles ? FarKind : step < farTiles + localTiles ? LocalKind : ExtraKind;
                int k0 = kind == FarKind ? step * TileKeys
                    : kind == LocalKind ? localFrom + (step - farTiles) * TileKeys
                    : (step - farTiles - localTiles) * TileKeys;
                int count = IntrinsicMath.Min(TileKeys, (kind == FarKind ? farEnd : kind == LocalKind ? localTo + 1 : extraCount) - k0);
                // The previous key tile's (and job's) readers of shared memory are done.
                Group.Barrier();
                if (step == 0 && t < TileRows)
                {
                    int from = 0, to = -1, end = 0;
                    if (t < rows)
                    {
                        long i = first + t;
                        from = TiledLocalFrom(shape, i);
                        to = (int)(i - shape.LocalFirstPosition);
                        end = TiledFarEnd(shape, i);
                    }
                    bounds[3 * t] = from;
                    bounds[3 * t + 1] = to;
                    bounds[3 * t + 2] = end;
                }
                if (step == 0 || step == farTiles)
                {
                    // The far tiles score the ceiling query, the local ones the query.
                    for (int r = warp; r < rows; r += TiledGroupSize / Lanes)
                    {
                        long start = ((long)(row0 + r) * shape.Heads + head) * hd;
                        if (kind == FarKind)
                            for (int c = lane; c < hd; c += Lanes) queries[r * TiledMaxHeadDim + c] = farQuery[start + c];
                        else
                            for (int c = lane; c < hd; c += Lanes) queries[r * TiledMaxHeadDim + c] = q[start + c];
                    }
                }
                for (int key = warp; key < count; key += TiledGroupSize / Lanes)
                {
                    if (kind == ExtraKind)
                    {
                        long start = ((long)head * shape.ExtraCount + k0 + key) * hd;
                        for (int c = lane; c < hd; c += Lanes) values[key * TiledMaxHeadDim + c] = extraValues[start + c];
                    }
                    else
                    {
                        long start = (long)(k0 + key) * slotStride + kvOffset;
                        if (kind == FarKind)
                            for (int c = lane; c < hd; c += Lanes)
                            {
                                keys[key * KeyStride + c] = farKeys[start + c];
                                values[key * TiledMaxHeadDim + c] = farValues[start + c];
                            }
                        else
                            for (int c = lane; c < hd; c += Lanes)
                            {
                                keys[key * KeyStride + c] = localKeys[start + c];
                                values[key * TiledMaxHeadDim + c] = localValues[start + c];
                            }
                    }
                }
                Group.Barrier();

                bool sees = kind == FarKind ? k0 < warpFarEnd
                    : kind == LocalKind ? k0 <= warpTo && k0 + count > warpFrom
                    : warpHasLast;
                if (!sees) continue; // uniform over the warp
                float d0 = 0f, d1 = 0f, d2 = 0f, d3 = 0f, extra = float.NegativeInfinity;
                if (kind == ExtraKind)
                {
                    if (lane < count) extra = extraLogits[head * shape.ExtraCount + k0 + lane];
                }
                else if (lane < count)
                {
                    int k = lane * KeyStride, qr = warpRow * TiledMaxHeadDim;
                    for (int c = 0; c < hd; c++)
                    {
                        float kc = keys[k + c];
                        d0 += queries[qr + c] * kc;
                        d1 += queries[qr + TiledMaxHeadDim + c] * kc;
                        d2 += queries[qr + 2 * TiledMaxHeadDim + c] * kc;
                        d3 += queries[qr + 3 * TiledMaxHeadDim + c] * kc;
                    }
                }
                int key0 = k0 + lane;
                float s0 = TileLogit(shape, bounds, warpRow, kind, key0, d0, slope, extra, lastRow);
                float s1 = TileLogit(shape, bounds, warpRow + 1, kind, key0, d1, slope, extra, lastRow);
                float s2 = TileLogit(shape, bounds, warpRow + 2, kind, key0, d2, slope, extra, lastRow);
                float s3 = TileLogit(shape, bounds, warpRow + 3, kind, key0, d3, slope, extra, lastRow);
                int own = warpRow * TileKeys + lane;
                scores[own] = s0;
                scores[own + TileKeys] = s1;
                scores[own + 2 * TileKeys] = s2;
                scores[own + 3 * TileKeys] = s3;
                Warp.Barrier();
                float n0 = m0, n1 = m1, n2 = m2, n3 = m3;
                for (int j = 0; j < count; j++)
                {
                    int at = warpRow * TileKeys + j;
                    n0 = IntrinsicMath.Max(n0, scores[at]);
                    n1 = IntrinsicMath.Max(n1, scores[at + TileKeys]);
                    n2 = IntrinsicMath.Max(n2, scores[at + 2 * TileKeys]);
                    n3 = IntrinsicMath.Max(n3, scores[at + 3 * TileKeys]);
                }
                probabilities[own] = Probability(s0, n0);
                probabilities[own + TileKeys] = Probability(s1, n1);
                probabilities[own + 2 * TileKeys] = Probability(s2, n2);
                probabilities[own + 3 * TileKeys] = Probability(s3, n3);
                // A row that has seen nothing yet keeps max -inf and rescales by 1 (its sums are 0).
                float r0 = Rescale(m0, n0), r1 = Rescale(m1, n1), r2 = Rescale(m2, n2), r3 = Rescale(m3, n3);
                m0 = n0;
                m1 = n1;
                m2 = n2;
                m3 = n3;
                l0 *= r0;
                l1 *= r1;
                l2 *= r2;
                l3 *= r3;
                o0 = Scaled(o0, r0);
                o1 = Scaled(o1, r1);
                o2 = Scaled(o2, r2);
                o3 = Scaled(o3, r3);
                Warp.Barrier();
                for (int j = 0; j < count; j++)
                {
                    int v = j * TiledMaxHeadDim + lane, at = warpRow * TileKeys + j;
                    var value = new Float4
                    {
                        X = values[v],
                        Y = hd > Lanes ? values[v + Lanes] : 0f,
                        Z = hd > 2 * Lanes ? values[v + 2 * Lanes] : 0f,
                        W = hd > 3 * Lanes ? values[v + 3 * Lanes] : 0f,
                    };
                    float p0 = probabilities[at], p1 = probabilities[at + TileKeys], p2 = probabilities[at + 2 * TileKeys], p3 = probabilities[at + 3 * TileKeys];
                    l0 += p0;
                    l1 += p1;
                    l2 += p2;
                    l3 += p3;
                    o0 = o0.MulAdd(p0, value);
                    o1 = o1.MulAdd(p1, value);
                    o2 = o2.MulAdd(p2, value);
                    o3 = o3.MulAdd(p3, value);
                }
            }
            long out0 = ((long)(row0 + warpRow) * shape.Heads + head) * hd, rowStride = (long)shape.Heads * hd;
            if (warpRows > 0) StoreRow(output, out0, hd, lane, o0, l0);
            if (warpRows > 1) StoreRow(output, out0 + rowStride, hd, lane, o1, l1);
            if (warpRows > 2) StoreRow(output, out0 + 2 * rowStride, hd, lane, o2, l2);
            if (warpRows > 3) StoreRow(output, out0 + 3 * rowStride, hd, lane, o3, l3);
        }
    }

    /// <summary>First local slot the query at <paramref name="position"/> sees (Ops.Attention.LocalStart, relative to slot 0).</summary>
    private static int TiledLocalFrom(AttentionShape shape, long position) =>
        shape.Window == long.MaxValue ? 0 : (int)(IntrinsicMath.Max(shape.LocalFirstPosition, position - shape.Window + 1) - shape.LocalFirstPosition);

    /// <summary>Far slots [0, end) the query at <paramref name="position"/> sees (Ops.Attention.FarEnd).</summary>
    private static int TiledFarEnd(AttentionShape shape, long position)
    {
        if (shape.FarCount == 0 || shape.Window == long.MaxValue) return 0;
        long end = IntrinsicMath.Min(IntrinsicMath.Min(shape.FarCount, shape.GlobalLimit - shape.FarFirstPosition), position - shape.Window + 1 - shape.FarFirstPosition);
        return (int)IntrinsicMath.Clamp(end, 0, shape.FarCount);
    }

    /// <summary>
    /// The logit of key <paramref name="key"/> (a far slot, a local slot or an extra entry, by
    /// <paramref name="kind"/>) for tile row <paramref name="row"/>, -inf when the row does not see it; the same
    /// arithmetic as <see cref="Attend"/>.
    /// </summary>
    private static float TileLogit(AttentionShape shape, ArrayView<int> bounds, int row, int kind, int key, float dot, float slope, float extra, int lastRow)
    {
        int to = bounds[3 * row + 1];
        if (kind == LocalKind)
        {
            if (key < bounds[3 * row] || key > to) return float.NegativeInfinity;
            long distance = to - key;
            return dot * shape.Scale - slope * IntrinsicMath.Min(distance, shape.AlibiDistanceCap);
        }
        if (kind == FarKind)
        {
            if (key >= bounds[3 * row + 2]) return float.NegativeInfinity;
            long distance = shape.LocalFirstPosition + to - (shape.FarFirstPosition + key);
            float logit = distance >= shape.StationaryFrom ? dot * shape.Scale : 0f;
            return logit - slope * (shape.AlibiDistanceCap == long.MaxValue ? distance : shape.AlibiDistanceCap); // starting tokens at -m*D
        }
        return row == lastRow ? extra : float.NegativeInfinity;
    }

    /// <summary>exp(logit - max), 0 for an unseen key.</summary>
    private static float Probability(float logit, float max) => logit > float.NegativeInfinity ? DeviceMath.Exp(logit - max) : 0f;

    /// <summary>exp(old - new) for the running sums; 1 while the row has seen nothing (both -inf).</summary>
    private static float Rescale(float oldMax, float newMax) => newMax > float.NegativeInfinity ? DeviceMath.Exp(oldMax - newMax) : 1f;

    private static Float4 Scaled(Float4 o, float s) => new() { X = o.X * s, Y = o.Y * s, Z = o.Z * s, W = o.W * s };

    /// <summary>output[start + c] = o[c] / sum for the lane's dims c = lane + 32k &lt; hd.</summary>
    private static void StoreRow(ArrayView<float> output, long start, int hd, int lane, Float4 o, float sum)
    {
        if (lane < hd) output[start + lane] = o.X / sum;
        if (lane + Lanes < hd) output[start + lane + Lanes] = o.Y / sum;
        if (lane + 2 * Lanes < hd) output[start + lane + 2 * Lanes] = o.Z / sum;
        if (lane + 3 * Lanes < hd) output[start + lane + 3 * Lanes] = o.W / sum;
    }

    /// <summary>
    /// LM-Infinite top-k (algorithms.md 2.5): one group per head; K rounds, each a group arg-max of
    /// scale * query[h] . farKeys[j] over j in [Begin, End) not yet chosen (ties to the lower j), so no scratch
    /// grows with the stream. K is small (5 in the paper's runs). Writes the K logits and copies the K value rows.
    /// </summary>
    [KernelEntry(ExplicitlyGrouped = true)]
    public static void SelectTopK(ArrayView<float> query, ArrayView<float> farKeys, ArrayView<float> farValues, TopKShape shape,
        ArrayView<float> logits, ArrayView<float> values)
    {
        var q = SharedMemory.Allocate<float>(MaxHeadDim);
        var chosen = SharedMemory.Allocate<int>(TopKShape.MaxK);
        var bestScore = SharedMemory.Allocate<float>(GroupReduce.MaxGroupSize);
        var bestIndex = SharedMemory.Allocate<int>(GroupReduce.MaxGroupSize);
        int hd = shape.HeadDim, t = Group.IdxX, slotStride = shape.KvHeads * hd;
        for (int head = Grid.IdxX; head < shape.Heads; head += Grid.DimX)
        {
            int kvOffset = head / (shape.Heads / shape.KvHeads) * hd;
            for (int c = t; c < hd; c += Group.DimX) q[c] = query[(long)head * hd + c];
            Group.Barrier();
            for (int round = 0; round < shape.K; round++)
            {
                float best = float.NegativeInfinity;
                int index = int.MaxValue;
                for (int j = shape.Begin + t; j < shape.End; j += Group.DimX)
                {
                    bool taken = false;
                    for (int r = 0; r < round; r++) taken |= chosen[r] == j;
                    if (taken) continue;
                    long kStart = (long)j * slotStride + kvOffset;
                    float dot = 0f;
                    for (int c = 0; c < hd; c++) dot += q[c] * farKeys[kStart + c];
                    float score = dot * shape.Scale;
                    if (score > best || (score == best && j < index))
                    {
                        best = score;
                        index = j;
                    }
                }
                bestScore[t] = best;
                bestIndex[t] = index;
                Group.Barrier();
                for (int stride = Group.DimX / 2; stride > 0; stride /= 2)
                {
                    if (t < stride)
                    {
                        float other = bestScore[t + stride];
                        int otherIndex = bestIndex[t + stride];
                        if (other > bestScore[t] || (other == bestScore[t] && otherIndex < bestIndex[t]))
                        {
                            bestScore[t] = other;
                            bestIndex[t] = otherIndex;
                        }
                    }
                    Group.Barrier();
                }
                if (t == 0)
                {
                    chosen[round] = bestIndex[0];
                    logits[head * shape.K + round] = bestScore[0];
                }
                Group.Barrier();
            }
            for (int e = 0; e < shape.K; e++)
            {
                long from = (long)chosen[e] * slotStride + kvOffset, to = ((long)head * shape.K + e) * hd;
                for (int c = t; c < hd; c += Group.DimX) values[to + c] = farValues[from + c];
            }
            Group.Barrier();
        }
    }
}
