// A tiny RGB raster: rectangles, thick lines, dashes and 5×7 text (scaled, horizontal or rotated), to PNG.
import { GLYPH_HEIGHT, GLYPH_WIDTH, glyph } from './font.ts';
import { encodePng } from './png.ts';

export type Rgb = readonly [number, number, number];

export interface Canvas {
  readonly width: number;
  readonly height: number;
  rect(x: number, y: number, w: number, h: number, color: Rgb): void;
  line(x0: number, y0: number, x1: number, y1: number, color: Rgb, thickness?: number, dash?: number): void;
  /** Text with its top-left corner at (x, y); `vertical` reads bottom to top, its bottom-left at (x, y). */
  text(x: number, y: number, s: string, color: Rgb, scale?: number, vertical?: boolean): void;
  textWidth(s: string, scale?: number): number;
  toPng(): Uint8Array;
}

export function createCanvas(width: number, height: number, background: Rgb = [255, 255, 255]): Canvas {
  const px = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) px.set(background, i * 3);
  const set = (x: number, y: number, c: Rgb): void => {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi < 0 || yi < 0 || xi >= width || yi >= height) return;
    px.set(c, (yi * width + xi) * 3);
  };
  const canvas: Canvas = {
    width,
    height,
    rect(x, y, w, h, color) {
      for (let j = Math.round(y); j < Math.round(y + h); j++) for (let i = Math.round(x); i < Math.round(x + w); i++) set(i, j, color);
    },
    line(x0, y0, x1, y1, color, thickness = 1, dash = 0) {
      const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
      const r = (thickness - 1) / 2;
      for (let s = 0; s <= steps; s++) {
        if (dash > 0 && Math.floor(s / dash) % 2 === 1) continue;
        const x = x0 + ((x1 - x0) * s) / steps;
        const y = y0 + ((y1 - y0) * s) / steps;
        for (let dy = -Math.floor(r); dy <= Math.ceil(r); dy++) for (let dx = -Math.floor(r); dx <= Math.ceil(r); dx++) set(x + dx, y + dy, color);
      }
    },
    text(x, y, s, color, scale = 1, vertical = false) {
      let pen = 0;
      for (const ch of s) {
        const g = glyph(ch);
        for (let row = 0; row < GLYPH_HEIGHT; row++) {
          for (let col = 0; col < GLYPH_WIDTH; col++) {
            if (!g[row]?.[col]) continue;
            for (let a = 0; a < scale; a++) {
              for (let b = 0; b < scale; b++) {
                if (vertical) set(x + row * scale + b, y - (pen + col * scale + a), color);
                else set(x + pen + col * scale + a, y + row * scale + b, color);
              }
            }
          }
        }
        pen += (GLYPH_WIDTH + 1) * scale;
      }
    },
    textWidth: (s, scale = 1) => Math.max(0, [...s].length * (GLYPH_WIDTH + 1) * scale - scale),
    toPng: () => encodePng(width, height, px),
  };
  return canvas;
}
