// The ECharts the panel ships: echarts/core with only what the panel draws (the full
// build is 334 KB gzipped, this one about 193 KB). Add a chart or component here
// when a chart needs it; src/charts/echarts.rs calls the global `echarts` this makes.
import { use } from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import {
  AriaComponent,
  AxisPointerComponent,
  DataZoomComponent,
  GridComponent,
  LegendComponent,
  MarkAreaComponent,
  MarkLineComponent,
  TitleComponent,
  TooltipComponent,
} from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

use([
  LineChart,
  BarChart,
  GridComponent,
  TooltipComponent,
  AxisPointerComponent,
  LegendComponent,
  DataZoomComponent,
  MarkLineComponent,
  MarkAreaComponent,
  AriaComponent,
  TitleComponent,
  CanvasRenderer,
]);

export * from 'echarts/core';
