using ILGPU;

namespace LongLM.Kernels.Ilgpu;

/// <summary>
/// A mask/logit variant of the attention kernel (FlashInfer's LogitsMask / LogitsTransform hooks). The kernel
/// visits cache slots [0, querySlot] (the causal ceiling); a variant can hide more of them or change a logit, so
/// sliding windows, the Lambda mask, soft-capping or ALiBi are new structs, not new kernels. Fields of the struct
/// (a window length, a slope) reach the kernel as its last argument.
/// </summary>
public interface IAttentionVariant
{
    /// <summary>Whether the key at cache slot <paramref name="keySlot"/> is visible to the query at <paramref name="querySlot"/>.</summary>
    bool IsVisible(int querySlot, int keySlot, int head);

    /// <summary>The logit used for the softmax, given the scaled dot product.</summary>
    float TransformLogit(float logit, int querySlot, int keySlot, int head);
}

/// <summary>Plain causal attention: every earlier slot and the query's own.</summary>
public readonly struct CausalVariant : IAttentionVariant
{
    /// <inheritdoc />
    public bool IsVisible(int querySlot, int keySlot, int head) => keySlot <= querySlot;

    /// <inheritdoc />
    public float TransformLogit(float logit, int querySlot, int keySlot, int head) => logit;
}

/// <summary>Causal GQA attention over a KV cache laid out [slot, kvHead, headDim].</summary>
public static class AttentionKernels
{
    /// <summary>Largest supported head dimension.</summary>
    public const int MaxHeadDim = 256;

    private const int Lanes = 32;
    private const int MaxWarps = GroupReduce.MaxGroupSize / Lanes;

    /// <summary>
    /// v1: one group per (query row, head), grid-stride over those jobs, used for decode and prefill alike.
    /// The query goes to shared memory; the group's warps take interleaved batches of 32 keys, one key per lane
    /// (the lane streams its key row while the query is broadcast from shared memory). Each warp keeps an online
    /// softmax (max, sum) and an output accumulator in shared memory: per batch the 32 logits are exchanged
    /// through a double-buffered shared slot (one warp barrier), the accumulator is rescaled once, and lanes
    /// over head dims add p_j * v[j, :] (coalesced value rows). A final group barrier merges the warps'
    /// (max, sum, acc) partials. Query head h reads KV head h / (Heads / KvHeads), as HF repeat_kv.
    /// </summary>
    [KernelEntry(typeof(CausalVariant), ExplicitlyGrouped = true)]
    public static void Decode<TVariant>(ArrayView<float> q, ArrayView<float> keys, ArrayView<float> values, ArrayView<float> output,
        AttentionShape shape, TVariant variant)
        where TVariant : struct, IAttentionVariant
    {
        var query = SharedMemory.Allocate<float>(MaxHeadDim);
        var accumulators = SharedMemory.Allocate<float>(MaxWarps * MaxHeadDim); // [warp][dim]
        var logits = SharedMemory.Allocate<float>(MaxWarps * 2 * Lanes);      // [warp][parity][lane]
        var partials = SharedMemory.Allocate<float>(MaxWarps * 2);             // [warp](max, sum)
        int hd = shape.HeadDim, t = Group.IdxX, lane = Warp.LaneIdx, warp = Warp.WarpIdx, warps = Group.DimX / Lanes;
        int headsPerKv = shape.Heads / shape.KvHeads, slotStride = shape.KvHeads * hd;
        int accumulator = warp * MaxHeadDim;
        for (int job = Grid.IdxX; job < shape.QueryCount * shape.Heads; job += Grid.DimX)
        {
            int row = job / shape.Heads, head = job - row * shape.Heads, kvOffset = head / headsPerKv * hd;
            int querySlot = shape.FirstQuerySlot + row, keyCount = querySlot + 1;
            long qStart = (long)job * hd; // q and output are [rows, heads, hd]
            for (int c = t; c < hd; c += Group.DimX) query[c] = q[qStart + c];
            // Also orders this job's writes to the accumulators and partials after the last job's merge.
            Group.Barrier();
            for (int c = lane; c < hd; c += Lanes) accumulators[accumulator + c] = 0f;
            float max = float.NegativeInfinity, sum = 0f;
            int parity = 0;
            for (int batch = warp * Lanes; batch < keyCount; batch += warps * Lanes)
            {
                int key = batch + lane;
                float logit = float.NegativeInfinity;
                if (key < keyCount && variant.IsVisible(querySlot, key, head))
                {
                    long kStart = (long)key * slotStride + kvOffset;
                    float dot = 0f;
                    for (int c = 0; c < hd; c++) dot += query[c] * keys[kStart + c];
                    logit = variant.TransformLogit(dot * shape.Scale, querySlot, key, head);
                }
                int slot = (warp * 2 + parity) * Lanes;
                logits[slot + lane] = logit;
                Warp.Barrier();
                int count = IntrinsicMath.Min(Lanes, keyCount - batch);
                float batchMax = float.NegativeInfinity;
                for (int j = 0; j < count; j++) batchMax = IntrinsicMath.Max(batchMax, logits[slot + j]);
                if (batchMax > float.NegativeInfinity)
                {
                    float newMax = IntrinsicMath.Max(max, batchMax);
                    float rescale = DeviceMath.Exp(max - newMax); // 0 while max is still -inf
                    sum *= rescale;
                    for (int c = lane; c < hd; c += Lanes) accumulators[accumulator + c] *= rescale;
                    for (int j = 0; j < count; j++)
                    {
                        float p = DeviceMath.Exp(logits[slot + j] - newMax); // masked keys give exp(-inf) = 0
                        sum += p;
                        long vStart = (long)(batch + j) * slotStride + kvOffset;
                        for (int c = lane; c < hd; c += Lanes) accumulators[accumulator + c] += p * values[vStart + c];
                    }
                    max = newMax;
                }
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
}
