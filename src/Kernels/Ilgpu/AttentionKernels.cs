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
    /// v2: one group per (query row, head), grid-stride over those jobs, for decode and prefill alike. The row's
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
        var chosen = SharedMemory.Allocate<int>(64);
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
