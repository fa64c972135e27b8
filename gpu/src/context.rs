//! The Vulkan context: an instance, a physical device, a device and one queue used for compute and
//! transfers. Either created here (owned, destroyed on drop) or adopted from an embedder such as
//! Wine's D3D12-on-Vulkan layer (borrowed: never destroyed here), plus what the device can do
//! ([`DeviceCaps`]) and, when asked for, a validation-layer message log.
#![allow(unsafe_code)]
// Vulkan calls come in sequences that share one precondition (valid handles of this device,
// recording command buffer); each block's SAFETY comment states it once for the sequence.
#![allow(clippy::multiple_unsafe_ops_per_block)]

use std::ffi::{c_void, CStr, CString};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ash::vk;

use crate::error::GpuError;

const VALIDATION_LAYER: &CStr = c"VK_LAYER_KHRONOS_validation";
const EXT_MEMORY_DECOMPRESSION: &CStr = c"VK_EXT_memory_decompression";
const KHR_MAINTENANCE5: &CStr = c"VK_KHR_maintenance5";
const KHR_PIPELINE_EXECUTABLE_PROPERTIES: &CStr = c"VK_KHR_pipeline_executable_properties";

/// Which memory-decompression extension the device offers with the GDeflate 1.0 method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryDecompressionExt {
    /// `VK_NV_memory_decompression`.
    Nv,
    /// `VK_EXT_memory_decompression` (its buffers need the decompression usage bit through
    /// `VK_KHR_maintenance5` usage flags).
    Ext,
}

/// What the device can do, as far as this crate uses it (queried properties combined with the
/// features that are actually enabled on the device).
#[derive(Clone, Debug)]
pub struct DeviceCaps {
    /// Device name from the driver.
    pub device_name: String,
    /// PCI vendor id.
    pub vendor_id: u32,
    /// Discrete GPU, integrated GPU, CPU (lavapipe), ...
    pub device_type: vk::PhysicalDeviceType,
    /// Vulkan version of the device (min of device and requested version).
    pub api_version: u32,
    /// Default subgroup size for compute.
    pub subgroup_size: u32,
    /// Smallest and largest subgroup size (subgroup size control), or both the default.
    pub subgroup_size_range: (u32, u32),
    /// Subgroup arithmetic operations are supported in compute shaders.
    pub subgroup_arithmetic: bool,
    /// Subgroup ballot operations are supported in compute shaders.
    pub subgroup_ballot: bool,
    /// `subgroupSizeControl` and `computeFullSubgroups` are enabled (Vulkan 1.3), so the decode
    /// pipeline can ask for full subgroups (and a required size of 32 when the range has it).
    pub full_subgroups: bool,
    /// A required subgroup size can be set on compute pipelines.
    pub required_size_compute: bool,
    /// `VK_EXT_external_memory_host` is enabled: its minimum pointer alignment.
    pub host_import_alignment: Option<u64>,
    /// `VK_KHR_external_memory_fd` is enabled: memory can be exported as an opaque fd (for CUDA
    /// import on the GPUDirect Storage route).
    pub external_memory_fd: bool,
    /// Memory decompression with GDeflate 1.0, if enabled.
    pub memory_decompression: Option<MemoryDecompressionExt>,
    /// `bufferDeviceAddress` is enabled.
    pub buffer_device_address: bool,
    /// Largest dispatch in x.
    pub max_workgroups_x: u32,
    /// Largest range of one storage-buffer descriptor.
    pub max_storage_buffer_range: u64,
    /// Nanoseconds per timestamp tick, and whether the queue has timestamps.
    pub timestamp_period_ns: Option<f32>,
    /// Alignment for flushes of non-coherent mapped memory.
    pub non_coherent_atom_size: u64,
    /// Minimum alignment of storage-buffer descriptor offsets.
    pub min_storage_offset_alignment: u64,
    /// `VK_KHR_pipeline_executable_properties` is enabled (asked for with
    /// `ContextOptions::pipeline_statistics`).
    pub pipeline_statistics: bool,
}

/// Options for [`VulkanContext::create`].
#[derive(Clone, Debug)]
pub struct ContextOptions {
    /// Enable `VK_LAYER_KHRONOS_validation` with a debug messenger that records every warning and
    /// error ([`VulkanContext::validation_messages`]). Creation fails if the layer is missing.
    pub validation: bool,
    /// Pick the n-th physical device that has a compute queue, instead of the best one.
    pub device_index: Option<usize>,
    /// Enable a memory-decompression extension when offered.
    pub memory_decompression: bool,
    /// Enable `VK_KHR_pipeline_executable_properties` when offered, so pipelines can report the
    /// driver's compile statistics (registers, shared memory, spills:
    /// `ShaderDecoder::statistics`). For benchmarks and tuning.
    pub pipeline_statistics: bool,
}

impl Default for ContextOptions {
    fn default() -> Self {
        ContextOptions {
            validation: false,
            device_index: None,
            memory_decompression: true,
            pipeline_statistics: false,
        }
    }
}

/// What an embedder enabled on the device it hands over (Vulkan cannot be asked afterwards).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdoptedFeatures {
    /// Vulkan 1.2 `storageBuffer8BitAccess` (required).
    pub storage_buffer_8bit: bool,
    /// Vulkan 1.2 `vulkanMemoryModel`. Not needed; but if it is enabled, `vulkanMemoryModelDeviceScope`
    /// must be too, since the decode shader uses device-scope barriers (required then).
    pub vulkan_memory_model: bool,
    /// Vulkan 1.2 `vulkanMemoryModelDeviceScope`.
    pub vulkan_memory_model_device_scope: bool,
    /// Vulkan 1.2 `timelineSemaphore` (required).
    pub timeline_semaphore: bool,
    /// Vulkan 1.2 `bufferDeviceAddress` (memory decompression needs it).
    pub buffer_device_address: bool,
    /// Vulkan 1.3 `subgroupSizeControl` and `computeFullSubgroups` (both).
    pub full_subgroups: bool,
    /// `VK_EXT_external_memory_host` enabled.
    pub external_memory_host: bool,
    /// `VK_NV_memory_decompression` enabled with its `memoryDecompression` feature.
    pub nv_memory_decompression: bool,
    /// `VK_EXT_memory_decompression` and `VK_KHR_maintenance5` enabled with their features.
    pub ext_memory_decompression: bool,
}

/// Raw handles from an embedder, for [`VulkanContext::adopt`].
#[derive(Clone, Copy, Debug)]
pub struct AdoptInfo {
    /// The instance's `vkGetInstanceProcAddr`.
    pub get_instance_proc_addr: vk::PFN_vkGetInstanceProcAddr,
    /// The embedder's instance.
    pub instance: vk::Instance,
    /// The physical device `device` was created from.
    pub physical_device: vk::PhysicalDevice,
    /// The embedder's device.
    pub device: vk::Device,
    /// A queue of `device` whose family supports compute.
    pub queue: vk::Queue,
    /// The family of `queue`.
    pub queue_family_index: u32,
    /// The Vulkan version the device was created for (`VkApplicationInfo::apiVersion`).
    pub api_version: u32,
    /// What was enabled on `device`.
    pub features: AdoptedFeatures,
}

/// Warnings and errors reported by the validation layer.
#[derive(Debug, Default)]
struct MessageLog {
    messages: Mutex<Vec<String>>,
}

/// A handle on a context's validation messages that outlives the context, so the messages the
/// layer reports while the device and instance are destroyed (undestroyed objects: leaks) can be
/// read after the context dropped.
#[derive(Clone, Debug)]
pub struct ValidationLog(Arc<MessageLog>);

impl ValidationLog {
    /// Every warning or error recorded so far.
    pub fn messages(&self) -> Vec<String> {
        self.0
            .messages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

struct Debug {
    loader: ash::ext::debug_utils::Instance,
    messenger: vk::DebugUtilsMessengerEXT,
    /// The `MessageLog` the callback writes to (one strong count is held through
    /// `Arc::into_raw`, released after the instance is destroyed).
    log: *const MessageLog,
}

/// A Vulkan instance + device + queue, owned or adopted. Shared as `Arc<VulkanContext>` by every
/// object that holds Vulkan handles made from it, so it outlives them.
pub struct VulkanContext {
    entry: ash::Entry,
    instance: ash::Instance,
    physical: vk::PhysicalDevice,
    device: ash::Device,
    queue: Mutex<vk::Queue>,
    queue_family: u32,
    owned: bool,
    caps: DeviceCaps,
    memory: vk::PhysicalDeviceMemoryProperties,
    debug: Option<Debug>,
    host_import: Option<ash::ext::external_memory_host::Device>,
    memory_fd: Option<ash::khr::external_memory_fd::Device>,
    executable_properties: Option<ash::khr::pipeline_executable_properties::Device>,
}

// SAFETY: the raw pointer in `Debug::log` points at a heap `MessageLog` (itself Sync: a Mutex)
// that lives until `drop`; every other field is a Vulkan handle or loader table, which Vulkan
// allows to be used from any thread, with the one externally synchronized object (the queue)
// behind a Mutex.
unsafe impl Send for VulkanContext {}
// SAFETY: as for Send: shared access only reads handles, the queue is locked for submission.
unsafe impl Sync for VulkanContext {}

impl std::fmt::Debug for VulkanContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VulkanContext")
            .field("device", &self.caps.device_name)
            .field("queue_family", &self.queue_family)
            .field("owned", &self.owned)
            .finish()
    }
}

unsafe extern "system" fn debug_callback(
    severity: vk::DebugUtilsMessageSeverityFlagsEXT,
    kind: vk::DebugUtilsMessageTypeFlagsEXT,
    data: *const vk::DebugUtilsMessengerCallbackDataEXT<'_>,
    user: *mut c_void,
) -> vk::Bool32 {
    if user.is_null() || data.is_null() {
        return vk::FALSE;
    }
    // SAFETY: `user` is the `MessageLog` registered with this messenger, alive until the
    // messenger is destroyed; `data` is valid for the duration of the callback (Vulkan spec).
    let (log, data) = unsafe { (&*(user as *const MessageLog), &*data) };
    let text = if data.p_message.is_null() {
        String::from("(no message)")
    } else {
        // SAFETY: p_message is a NUL-terminated string owned by the layer for this call.
        unsafe { CStr::from_ptr(data.p_message) }
            .to_string_lossy()
            .into_owned()
    };
    let line = format!("[{severity:?} {kind:?}] {text}");
    eprintln!("vulkan validation: {line}");
    log.messages
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(line);
    vk::FALSE
}

fn api_parts(v: u32) -> String {
    format!(
        "{}.{}.{}",
        vk::api_version_major(v),
        vk::api_version_minor(v),
        vk::api_version_patch(v)
    )
}

fn has_ext(list: &[vk::ExtensionProperties], name: &CStr) -> bool {
    list.iter()
        .any(|e| e.extension_name_as_c_str().is_ok_and(|n| n == name))
}

/// Queried (not enabled) properties of a physical device.
struct Probe {
    props: vk::PhysicalDeviceProperties,
    subgroup: vk::PhysicalDeviceSubgroupProperties<'static>,
    size_control: vk::PhysicalDeviceSubgroupSizeControlProperties<'static>,
    host_align: u64,
    decompression_methods: u64,
    queue_timestamps: bool,
}

/// # Safety
/// `physical` must be a valid physical device of `instance`, `family` one of its queue families.
unsafe fn probe(
    instance: &ash::Instance,
    physical: vk::PhysicalDevice,
    family: u32,
    exts: &[vk::ExtensionProperties],
) -> Probe {
    let mut subgroup = vk::PhysicalDeviceSubgroupProperties::default();
    let mut size_control = vk::PhysicalDeviceSubgroupSizeControlProperties::default();
    let mut host = vk::PhysicalDeviceExternalMemoryHostPropertiesEXT::default();
    let mut decomp = vk::PhysicalDeviceMemoryDecompressionPropertiesNV::default();
    // SAFETY: caller guarantees the handles; the chain holds structs that live across the call.
    let props = unsafe {
        let version = instance
            .get_physical_device_properties(physical)
            .api_version;
        let mut p2 = vk::PhysicalDeviceProperties2::default().push_next(&mut subgroup);
        if version >= vk::API_VERSION_1_3 {
            p2 = p2.push_next(&mut size_control);
        }
        if has_ext(exts, ash::ext::external_memory_host::NAME) {
            p2 = p2.push_next(&mut host);
        }
        if has_ext(exts, ash::nv::memory_decompression::NAME)
            || has_ext(exts, EXT_MEMORY_DECOMPRESSION)
        {
            p2 = p2.push_next(&mut decomp);
        }
        instance.get_physical_device_properties2(physical, &mut p2);
        p2.properties
    };
    // SAFETY: valid physical device (caller).
    let families = unsafe { instance.get_physical_device_queue_family_properties(physical) };
    let queue_timestamps = families
        .get(family as usize)
        .is_some_and(|f| f.timestamp_valid_bits > 0);
    let (subgroup, size_control) = (
        vk::PhysicalDeviceSubgroupProperties {
            p_next: std::ptr::null_mut(),
            ..subgroup
        },
        vk::PhysicalDeviceSubgroupSizeControlProperties {
            p_next: std::ptr::null_mut(),
            ..size_control
        },
    );
    Probe {
        props,
        subgroup,
        size_control,
        host_align: host.min_imported_host_pointer_alignment,
        decompression_methods: decomp.decompression_methods.as_raw(),
        queue_timestamps,
    }
}

fn device_name(props: &vk::PhysicalDeviceProperties) -> String {
    props
        .device_name_as_c_str()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl VulkanContext {
    /// Creates an instance and a device for compute with everything this crate can use.
    pub fn create(options: &ContextOptions) -> Result<Arc<VulkanContext>, GpuError> {
        // SAFETY: loading libvulkan runs its initialisers; the Vulkan loader is designed for it.
        let entry = unsafe { ash::Entry::load() }.map_err(|e| GpuError::Loader(e.to_string()))?;
        // SAFETY: valid entry; every struct passed lives across its call.
        unsafe { Self::create_with(entry, options) }
    }

    /// # Safety
    /// `entry` must be a loaded Vulkan entry.
    unsafe fn create_with(
        entry: ash::Entry,
        options: &ContextOptions,
    ) -> Result<Arc<VulkanContext>, GpuError> {
        // SAFETY: valid entry (caller).
        let loader_version = unsafe { entry.try_enumerate_instance_version() }
            .map_err(GpuError::vk("vkEnumerateInstanceVersion"))?
            .unwrap_or(vk::API_VERSION_1_0);
        if loader_version < vk::API_VERSION_1_2 {
            return Err(GpuError::Missing(format!(
                "Vulkan 1.2 (loader is {})",
                api_parts(loader_version)
            )));
        }
        let want_version = loader_version.min(vk::API_VERSION_1_3);
        let app = vk::ApplicationInfo::default()
            .application_name(c"ds-runtime")
            .engine_name(c"ds-gpu")
            .api_version(want_version);
        let mut layers: Vec<*const i8> = Vec::new();
        let mut exts: Vec<*const i8> = Vec::new();
        if options.validation {
            // SAFETY: valid entry.
            let avail = unsafe { entry.enumerate_instance_layer_properties() }
                .map_err(GpuError::vk("vkEnumerateInstanceLayerProperties"))?;
            if !avail
                .iter()
                .any(|l| l.layer_name_as_c_str().is_ok_and(|n| n == VALIDATION_LAYER))
            {
                return Err(GpuError::Missing(
                    "VK_LAYER_KHRONOS_validation (install vulkan-validationlayers)".into(),
                ));
            }
            layers.push(VALIDATION_LAYER.as_ptr());
            exts.push(ash::ext::debug_utils::NAME.as_ptr());
        }
        let log = Arc::into_raw(Arc::<MessageLog>::default());
        let severity = vk::DebugUtilsMessageSeverityFlagsEXT::WARNING
            | vk::DebugUtilsMessageSeverityFlagsEXT::ERROR;
        let types = vk::DebugUtilsMessageTypeFlagsEXT::GENERAL
            | vk::DebugUtilsMessageTypeFlagsEXT::VALIDATION
            | vk::DebugUtilsMessageTypeFlagsEXT::PERFORMANCE;
        let mut messenger_info = vk::DebugUtilsMessengerCreateInfoEXT::default()
            .message_severity(severity)
            .message_type(types)
            .pfn_user_callback(Some(debug_callback))
            .user_data(log as *mut c_void);
        let mut info = vk::InstanceCreateInfo::default()
            .application_info(&app)
            .enabled_layer_names(&layers)
            .enabled_extension_names(&exts);
        if options.validation {
            // Also catches messages from vkCreateInstance / vkDestroyInstance themselves.
            info = info.push_next(&mut messenger_info);
        }
        // SAFETY: all pointers in `info` point at locals alive across the call.
        let instance = match unsafe { entry.create_instance(&info, None) } {
            Ok(i) => i,
            Err(e) => {
                // SAFETY: `log` came from Arc::into_raw above and is released once.
                drop(unsafe { Arc::from_raw(log) });
                return Err(GpuError::Vk {
                    call: "vkCreateInstance",
                    result: e,
                });
            }
        };
        let debug = if options.validation {
            let loader = ash::ext::debug_utils::Instance::new(&entry, &instance);
            // SAFETY: valid instance with VK_EXT_debug_utils enabled; `log` outlives it.
            match unsafe { loader.create_debug_utils_messenger(&messenger_info, None) } {
                Ok(messenger) => Some(Debug {
                    loader,
                    messenger,
                    log,
                }),
                Err(e) => {
                    // SAFETY: nothing created from the instance yet; log unused after this.
                    unsafe {
                        instance.destroy_instance(None);
                        drop(Arc::from_raw(log));
                    }
                    return Err(GpuError::Vk {
                        call: "vkCreateDebugUtilsMessengerEXT",
                        result: e,
                    });
                }
            }
        } else {
            // SAFETY: the log was never registered anywhere.
            drop(unsafe { Arc::from_raw(log) });
            None
        };
        // From here on, failures destroy the instance (and messenger) through a partial context.
        let mut partial = PartialInstance {
            instance: Some(instance),
            debug,
        };
        let (physical, family) = {
            let instance = partial.instance();
            // SAFETY: valid instance.
            unsafe { pick_device(instance, options.device_index) }?
        };
        let instance = partial.instance();
        // SAFETY: valid instance and physical device.
        let dev_exts = unsafe { instance.enumerate_device_extension_properties(physical) }
            .map_err(GpuError::vk("vkEnumerateDeviceExtensionProperties"))?;
        // SAFETY: valid handles.
        let probe = unsafe { probe(instance, physical, family, &dev_exts) };
        let api_version = probe.props.api_version.min(want_version);
        if api_version < vk::API_VERSION_1_2 {
            return Err(GpuError::Missing(format!(
                "Vulkan 1.2 (device {} has {})",
                device_name(&probe.props),
                api_parts(probe.props.api_version)
            )));
        }
        // Supported features.
        let mut f12 = vk::PhysicalDeviceVulkan12Features::default();
        let mut f13 = vk::PhysicalDeviceVulkan13Features::default();
        let mut fdec = vk::PhysicalDeviceMemoryDecompressionFeaturesNV::default();
        let want_decomp = options.memory_decompression
            && probe.decompression_methods
                & vk::MemoryDecompressionMethodFlagsNV::GDEFLATE_1_0.as_raw()
                != 0;
        let nv_decomp = want_decomp && has_ext(&dev_exts, ash::nv::memory_decompression::NAME);
        let ext_decomp = want_decomp
            && !nv_decomp
            && has_ext(&dev_exts, EXT_MEMORY_DECOMPRESSION)
            && has_ext(&dev_exts, KHR_MAINTENANCE5);
        {
            let mut f2 = vk::PhysicalDeviceFeatures2::default().push_next(&mut f12);
            if api_version >= vk::API_VERSION_1_3 {
                f2 = f2.push_next(&mut f13);
            }
            if nv_decomp || ext_decomp {
                f2 = f2.push_next(&mut fdec);
            }
            // SAFETY: valid handles; the chain's structs live across the call.
            unsafe { instance.get_physical_device_features2(physical, &mut f2) };
        }
        for (ok, what) in [
            (f12.storage_buffer8_bit_access, "storageBuffer8BitAccess"),
            (f12.timeline_semaphore, "timelineSemaphore"),
        ] {
            if ok == vk::FALSE {
                return Err(GpuError::Missing(what.into()));
            }
        }
        let bda = f12.buffer_device_address != vk::FALSE;
        let full_subgroups = api_version >= vk::API_VERSION_1_3
            && f13.subgroup_size_control != vk::FALSE
            && f13.compute_full_subgroups != vk::FALSE;
        let decomp_ok = fdec.memory_decompression != vk::FALSE && bda;
        let host_import = has_ext(&dev_exts, ash::ext::external_memory_host::NAME);
        let memory_fd = has_ext(&dev_exts, ash::khr::external_memory_fd::NAME);
        let exec_props =
            options.pipeline_statistics && has_ext(&dev_exts, KHR_PIPELINE_EXECUTABLE_PROPERTIES);

        let mut enable_exts: Vec<*const i8> = Vec::new();
        if host_import {
            enable_exts.push(ash::ext::external_memory_host::NAME.as_ptr());
        }
        if memory_fd {
            enable_exts.push(ash::khr::external_memory_fd::NAME.as_ptr());
        }
        if exec_props {
            enable_exts.push(KHR_PIPELINE_EXECUTABLE_PROPERTIES.as_ptr());
        }
        let decomp = match (decomp_ok, nv_decomp, ext_decomp) {
            (true, true, _) => {
                enable_exts.push(ash::nv::memory_decompression::NAME.as_ptr());
                Some(MemoryDecompressionExt::Nv)
            }
            (true, false, true) => {
                enable_exts.push(EXT_MEMORY_DECOMPRESSION.as_ptr());
                enable_exts.push(KHR_MAINTENANCE5.as_ptr());
                Some(MemoryDecompressionExt::Ext)
            }
            _ => None,
        };
        let mut e12 = vk::PhysicalDeviceVulkan12Features::default()
            .storage_buffer8_bit_access(true)
            .timeline_semaphore(true)
            .buffer_device_address(bda);
        let mut e13 = vk::PhysicalDeviceVulkan13Features::default()
            .subgroup_size_control(full_subgroups)
            .compute_full_subgroups(full_subgroups);
        let mut edec =
            vk::PhysicalDeviceMemoryDecompressionFeaturesNV::default().memory_decompression(true);
        let mut m5 = vk::PhysicalDeviceMaintenance5FeaturesKHR::default().maintenance5(true);
        let mut eprops = vk::PhysicalDevicePipelineExecutablePropertiesFeaturesKHR::default()
            .pipeline_executable_info(true);
        let priorities = [1.0f32];
        let queue_info = [vk::DeviceQueueCreateInfo::default()
            .queue_family_index(family)
            .queue_priorities(&priorities)];
        let mut dinfo = vk::DeviceCreateInfo::default()
            .queue_create_infos(&queue_info)
            .enabled_extension_names(&enable_exts)
            .push_next(&mut e12);
        if api_version >= vk::API_VERSION_1_3 {
            dinfo = dinfo.push_next(&mut e13);
        }
        if decomp.is_some() {
            dinfo = dinfo.push_next(&mut edec);
        }
        if decomp == Some(MemoryDecompressionExt::Ext) {
            dinfo = dinfo.push_next(&mut m5);
        }
        if exec_props {
            dinfo = dinfo.push_next(&mut eprops);
        }
        // SAFETY: valid physical device; the create info's pointers are alive for the call.
        let device = unsafe { instance.create_device(physical, &dinfo, None) }
            .map_err(GpuError::vk("vkCreateDevice"))?;
        // SAFETY: family/index 0 was requested in the create info.
        let queue = unsafe { device.get_device_queue(family, 0) };
        let features = AdoptedFeatures {
            storage_buffer_8bit: true,
            vulkan_memory_model: false,
            vulkan_memory_model_device_scope: false,
            timeline_semaphore: true,
            buffer_device_address: bda,
            full_subgroups,
            external_memory_host: host_import,
            nv_memory_decompression: decomp == Some(MemoryDecompressionExt::Nv),
            ext_memory_decompression: decomp == Some(MemoryDecompressionExt::Ext),
        };
        let (instance, debug) = partial.take();
        // SAFETY: the handles were just created from each other.
        let mut ctx = unsafe {
            Self::assemble(
                entry,
                instance,
                physical,
                device,
                queue,
                family,
                api_version,
                features,
                &probe,
                true,
                debug,
                memory_fd,
            )
        };
        if exec_props {
            ctx.caps.pipeline_statistics = true;
            ctx.executable_properties = Some(
                ash::khr::pipeline_executable_properties::Device::new(&ctx.instance, &ctx.device),
            );
        }
        Ok(Arc::new(ctx))
    }

    /// Adopts an embedder's instance, device and queue without taking ownership: nothing is
    /// destroyed when the context drops. Submissions from this crate lock an internal mutex; if
    /// the embedder also submits to the same queue, it must not do so at the same time (Vulkan
    /// requires external synchronization of a queue).
    ///
    /// # Safety
    /// Every handle in `info` must be valid, made from each other, and stay valid until the
    /// returned context and everything made from it are dropped; `features` must describe what
    /// was really enabled on the device.
    pub unsafe fn adopt(info: &AdoptInfo) -> Result<Arc<VulkanContext>, GpuError> {
        let f = info.features;
        for (ok, what) in [
            (
                f.storage_buffer_8bit,
                "storageBuffer8BitAccess enabled by the embedder",
            ),
            (
                !f.vulkan_memory_model || f.vulkan_memory_model_device_scope,
                "vulkanMemoryModelDeviceScope enabled by the embedder (it enabled vulkanMemoryModel)",
            ),
            (
                f.timeline_semaphore,
                "timelineSemaphore enabled by the embedder",
            ),
        ] {
            if !ok {
                return Err(GpuError::Missing(what.into()));
            }
        }
        if info.api_version < vk::API_VERSION_1_2 {
            return Err(GpuError::Missing(format!(
                "Vulkan 1.2 (embedder's device uses {})",
                api_parts(info.api_version)
            )));
        }
        let static_fn = ash::StaticFn {
            get_instance_proc_addr: info.get_instance_proc_addr,
        };
        // SAFETY: the embedder's vkGetInstanceProcAddr and handles are valid (caller).
        unsafe {
            let entry = ash::Entry::from_static_fn(static_fn.clone());
            let instance = ash::Instance::load(&static_fn, info.instance);
            let device = ash::Device::load(instance.fp_v1_0(), info.device);
            let dev_exts = instance
                .enumerate_device_extension_properties(info.physical_device)
                .map_err(GpuError::vk("vkEnumerateDeviceExtensionProperties"))?;
            let probe = probe(
                &instance,
                info.physical_device,
                info.queue_family_index,
                &dev_exts,
            );
            // Vulkan cannot be asked which extensions an embedder enabled, but
            // vkGetDeviceProcAddr returns null for commands of extensions that are not enabled
            // on the device, so a non-null vkGetMemoryFdKHR means VK_KHR_external_memory_fd is.
            let memory_fd = has_ext(&dev_exts, ash::khr::external_memory_fd::NAME)
                && (instance.fp_v1_0().get_device_proc_addr)(
                    info.device,
                    c"vkGetMemoryFdKHR".as_ptr(),
                )
                .is_some();
            Ok(Arc::new(Self::assemble(
                entry,
                instance,
                info.physical_device,
                device,
                info.queue,
                info.queue_family_index,
                info.api_version.min(probe.props.api_version),
                f,
                &probe,
                false,
                None,
                memory_fd,
            )))
        }
    }

    /// # Safety
    /// Handles valid and made from each other; `features` what the device has enabled.
    #[allow(clippy::too_many_arguments)]
    unsafe fn assemble(
        entry: ash::Entry,
        instance: ash::Instance,
        physical: vk::PhysicalDevice,
        device: ash::Device,
        queue: vk::Queue,
        family: u32,
        api_version: u32,
        features: AdoptedFeatures,
        probe: &Probe,
        owned: bool,
        debug: Option<Debug>,
        memory_fd: bool,
    ) -> VulkanContext {
        let compute_ops = |op: vk::SubgroupFeatureFlags| {
            probe.subgroup.supported_operations.contains(op)
                && probe
                    .subgroup
                    .supported_stages
                    .contains(vk::ShaderStageFlags::COMPUTE)
        };
        let subgroup_arithmetic = compute_ops(vk::SubgroupFeatureFlags::ARITHMETIC);
        let subgroup_ballot = compute_ops(vk::SubgroupFeatureFlags::BALLOT);
        let range = if probe.size_control.min_subgroup_size != 0 {
            (
                probe.size_control.min_subgroup_size,
                probe.size_control.max_subgroup_size,
            )
        } else {
            (probe.subgroup.subgroup_size, probe.subgroup.subgroup_size)
        };
        let host_import =
            (features.external_memory_host && probe.host_align != 0).then_some(probe.host_align);
        let decomp = if features.nv_memory_decompression {
            Some(MemoryDecompressionExt::Nv)
        } else if features.ext_memory_decompression {
            Some(MemoryDecompressionExt::Ext)
        } else {
            None
        };
        let caps = DeviceCaps {
            device_name: device_name(&probe.props),
            vendor_id: probe.props.vendor_id,
            device_type: probe.props.device_type,
            api_version,
            subgroup_size: probe.subgroup.subgroup_size,
            subgroup_size_range: range,
            subgroup_arithmetic,
            subgroup_ballot,
            full_subgroups: features.full_subgroups,
            required_size_compute: probe
                .size_control
                .required_subgroup_size_stages
                .contains(vk::ShaderStageFlags::COMPUTE),
            host_import_alignment: host_import,
            external_memory_fd: memory_fd,
            memory_decompression: decomp.filter(|_| {
                features.buffer_device_address
                    && probe.decompression_methods
                        & vk::MemoryDecompressionMethodFlagsNV::GDEFLATE_1_0.as_raw()
                        != 0
            }),
            buffer_device_address: features.buffer_device_address,
            max_workgroups_x: probe.props.limits.max_compute_work_group_count[0],
            max_storage_buffer_range: u64::from(probe.props.limits.max_storage_buffer_range),
            timestamp_period_ns: (probe.queue_timestamps
                && probe.props.limits.timestamp_compute_and_graphics != vk::FALSE)
                .then_some(probe.props.limits.timestamp_period),
            non_coherent_atom_size: probe.props.limits.non_coherent_atom_size.max(1),
            min_storage_offset_alignment: probe
                .props
                .limits
                .min_storage_buffer_offset_alignment
                .max(1),
            pipeline_statistics: false,
        };
        // SAFETY: valid instance and physical device (caller).
        let memory = unsafe { instance.get_physical_device_memory_properties(physical) };
        let host_import_fn = host_import
            .is_some()
            .then(|| ash::ext::external_memory_host::Device::new(&instance, &device));
        let memory_fd_fn =
            memory_fd.then(|| ash::khr::external_memory_fd::Device::new(&instance, &device));
        VulkanContext {
            entry,
            instance,
            physical,
            device,
            queue: Mutex::new(queue),
            queue_family: family,
            owned,
            caps,
            memory,
            debug,
            host_import: host_import_fn,
            memory_fd: memory_fd_fn,
            executable_properties: None,
        }
    }

    /// The loader entry (for extension loaders).
    pub fn entry(&self) -> &ash::Entry {
        &self.entry
    }

    /// The instance.
    pub fn instance(&self) -> &ash::Instance {
        &self.instance
    }

    /// The physical device.
    pub fn physical_device(&self) -> vk::PhysicalDevice {
        self.physical
    }

    /// The device.
    pub fn device(&self) -> &ash::Device {
        &self.device
    }

    /// The queue family every command pool of this crate uses.
    pub fn queue_family(&self) -> u32 {
        self.queue_family
    }

    /// Whether the instance and device are destroyed with this context.
    pub fn is_owned(&self) -> bool {
        self.owned
    }

    /// What the device can do.
    pub fn caps(&self) -> &DeviceCaps {
        &self.caps
    }

    /// Memory heaps and types of the physical device.
    pub fn memory_properties(&self) -> &vk::PhysicalDeviceMemoryProperties {
        &self.memory
    }

    pub(crate) fn host_import_fn(&self) -> Option<&ash::ext::external_memory_host::Device> {
        self.host_import.as_ref()
    }

    pub(crate) fn memory_fd_fn(&self) -> Option<&ash::khr::external_memory_fd::Device> {
        self.memory_fd.as_ref()
    }

    pub(crate) fn executable_properties_fn(
        &self,
    ) -> Option<&ash::khr::pipeline_executable_properties::Device> {
        self.executable_properties.as_ref()
    }

    /// Locks the queue for a submission (Vulkan requires queues to be externally synchronized).
    pub fn lock_queue(&self) -> MutexGuard<'_, vk::Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Submits command buffers, waiting for and signalling timeline semaphore values.
    pub fn submit(
        &self,
        command_buffers: &[vk::CommandBuffer],
        wait: &[(vk::Semaphore, u64)],
        signal: &[(vk::Semaphore, u64)],
    ) -> Result<(), GpuError> {
        let wait_sems: Vec<vk::Semaphore> = wait.iter().map(|w| w.0).collect();
        let wait_vals: Vec<u64> = wait.iter().map(|w| w.1).collect();
        let wait_stages = vec![vk::PipelineStageFlags::ALL_COMMANDS; wait.len()];
        let sig_sems: Vec<vk::Semaphore> = signal.iter().map(|s| s.0).collect();
        let sig_vals: Vec<u64> = signal.iter().map(|s| s.1).collect();
        let mut timeline = vk::TimelineSemaphoreSubmitInfo::default()
            .wait_semaphore_values(&wait_vals)
            .signal_semaphore_values(&sig_vals);
        let info = vk::SubmitInfo::default()
            .command_buffers(command_buffers)
            .wait_semaphores(&wait_sems)
            .wait_dst_stage_mask(&wait_stages)
            .signal_semaphores(&sig_sems)
            .push_next(&mut timeline);
        let queue = self.lock_queue();
        // SAFETY: the queue is locked; handles come from this device; arrays outlive the call.
        unsafe { self.device.queue_submit(*queue, &[info], vk::Fence::null()) }
            .map_err(GpuError::vk("vkQueueSubmit"))
    }

    /// Every validation warning or error recorded so far (empty without validation).
    pub fn validation_messages(&self) -> Vec<String> {
        match &self.debug {
            // SAFETY: `log` lives until drop, which cannot run while `&self` is borrowed.
            Some(d) => unsafe { &*d.log }
                .messages
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            None => Vec::new(),
        }
    }

    /// A handle on the validation messages that stays readable after the context is dropped
    /// (messages about objects left undestroyed come during `vkDestroyDevice`). `None` without
    /// validation.
    pub fn validation_log(&self) -> Option<ValidationLog> {
        self.debug.as_ref().map(|d| {
            // SAFETY: `d.log` came from Arc::into_raw and its strong count is held until drop;
            // incrementing it and rebuilding an Arc yields a second, independent owner.
            unsafe {
                Arc::increment_strong_count(d.log);
                ValidationLog(Arc::from_raw(d.log))
            }
        })
    }

    /// Whether the validation layer is active on this context.
    pub fn has_validation(&self) -> bool {
        self.debug.is_some()
    }

    /// Waits until the device is idle (used before tear-down and by tests).
    pub fn wait_idle(&self) -> Result<(), GpuError> {
        let _queue = self.lock_queue();
        // SAFETY: valid device; holding the queue lock keeps our own submissions out.
        unsafe { self.device.device_wait_idle() }.map_err(GpuError::vk("vkDeviceWaitIdle"))
    }
}

impl Drop for VulkanContext {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        // SAFETY: owned handles; every object made from the device holds an Arc of this context,
        // so none is alive any more; the device is idled before destruction.
        unsafe {
            // Best effort: a lost device still has to be destroyed.
            let _ = self.device.device_wait_idle();
            self.device.destroy_device(None);
            if let Some(d) = self.debug.take() {
                d.loader.destroy_debug_utils_messenger(d.messenger, None);
                self.instance.destroy_instance(None);
                drop(Arc::from_raw(d.log));
            } else {
                self.instance.destroy_instance(None);
            }
        }
    }
}

/// An instance (and messenger) that is destroyed if device creation fails half-way.
struct PartialInstance {
    instance: Option<ash::Instance>,
    debug: Option<Debug>,
}

impl PartialInstance {
    fn instance(&self) -> &ash::Instance {
        self.instance
            .as_ref()
            .expect("instance is present until take()")
    }

    fn take(&mut self) -> (ash::Instance, Option<Debug>) {
        (
            self.instance
                .take()
                .expect("PartialInstance::take is called once"),
            self.debug.take(),
        )
    }
}

impl Drop for PartialInstance {
    fn drop(&mut self) {
        if let Some(instance) = self.instance.take() {
            // SAFETY: nothing created from the instance survives (device creation failed).
            unsafe {
                if let Some(d) = self.debug.take() {
                    d.loader.destroy_debug_utils_messenger(d.messenger, None);
                    instance.destroy_instance(None);
                    drop(Arc::from_raw(d.log));
                } else {
                    instance.destroy_instance(None);
                }
            }
        }
    }
}

/// Picks a physical device with a compute queue: the `index`-th such device, or the best by type
/// (discrete, integrated, virtual, CPU).
///
/// # Safety
/// `instance` must be valid.
unsafe fn pick_device(
    instance: &ash::Instance,
    index: Option<usize>,
) -> Result<(vk::PhysicalDevice, u32), GpuError> {
    // SAFETY: valid instance (caller).
    let devices = unsafe { instance.enumerate_physical_devices() }
        .map_err(GpuError::vk("vkEnumeratePhysicalDevices"))?;
    let mut usable = Vec::new();
    for pd in devices {
        // SAFETY: pd comes from this instance.
        let (props, families) = unsafe {
            (
                instance.get_physical_device_properties(pd),
                instance.get_physical_device_queue_family_properties(pd),
            )
        };
        if let Some(family) = families
            .iter()
            .position(|f| f.queue_flags.contains(vk::QueueFlags::COMPUTE))
        {
            let rank = match props.device_type {
                vk::PhysicalDeviceType::DISCRETE_GPU => 0,
                vk::PhysicalDeviceType::INTEGRATED_GPU => 1,
                vk::PhysicalDeviceType::VIRTUAL_GPU => 2,
                vk::PhysicalDeviceType::CPU => 3,
                _ => 4,
            };
            usable.push((rank, pd, family as u32));
        }
    }
    if usable.is_empty() {
        return Err(GpuError::NoDevice(
            "no physical device with a compute queue".into(),
        ));
    }
    let chosen = match index {
        Some(i) => *usable.get(i).ok_or_else(|| {
            GpuError::NoDevice(format!(
                "device index {i} asked for, {} usable",
                usable.len()
            ))
        })?,
        None => *usable
            .iter()
            .min_by_key(|u| u.0)
            .expect("usable is not empty"),
    };
    Ok((chosen.1, chosen.2))
}

/// Names of the extensions [`VulkanContext::create`] enables when offered, for embedders that
/// create the device themselves and want every fast path (`VK_EXT_external_memory_host`,
/// `VK_KHR_external_memory_fd` for the GPUDirect Storage route,
/// `VK_NV_memory_decompression`).
pub fn recommended_device_extensions() -> Vec<CString> {
    vec![
        CString::from(ash::ext::external_memory_host::NAME),
        CString::from(ash::nv::memory_decompression::NAME),
        CString::from(ash::khr::external_memory_fd::NAME),
    ]
}
