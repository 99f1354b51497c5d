const WIDTH = 240;
const HEIGHT = 60;

/** A training's loss as a small line chart (first point left, last right; lower is better). */
export function LossCurve({ losses }: { losses: number[] }) {
  const low = Math.min(...losses);
  const high = Math.max(...losses);
  const span = high - low || 1;
  const points = losses
    .map((loss, index) => {
      const x = (index / Math.max(losses.length - 1, 1)) * WIDTH;
      const y = HEIGHT - ((loss - low) / span) * HEIGHT;
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    })
    .join(" ");
  const first = losses[0] ?? 0;
  const last = losses[losses.length - 1] ?? 0;
  return (
    <figure className="loss-curve" data-testid="loss-curve">
      <svg
        viewBox={`-2 -2 ${WIDTH + 4} ${HEIGHT + 4}`} width={WIDTH} height={HEIGHT} role="img"
        aria-label={`Loss curve, ${losses.length} points, from ${first.toFixed(4)} to ${last.toFixed(4)}`}
      >
        <polyline points={points} fill="none" stroke="currentColor" strokeWidth={2} />
      </svg>
      <figcaption>
        Loss {first.toFixed(4)} → {last.toFixed(4)} (lowest {low.toFixed(4)})
      </figcaption>
    </figure>
  );
}
